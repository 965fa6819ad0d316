/* version.h - one version for every program. */
#ifndef STP_VERSION_H
#define STP_VERSION_H
#define STP_VERSION "0.1.0"
#endif
