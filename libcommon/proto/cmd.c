/* cmd.c - the command table. */
#include "proto/cmd.h"
#include "proto/socks.h"

static const struct {
	uint8_t code;
	const char *label;  /* logs, metrics, rules' vocabulary */
	const char *wire;   /* messages: the name PROTOCOL.md gives it */
} cmds[STP_NCMDS] = {
	{ STP_CMD_CONNECT, "connect", "CONNECT" },
	{ STP_CMD_BIND, "bind", "BIND" },
	{ STP_CMD_UDP, "udp", "UDP ASSOCIATE" },
	{ STP_CMD_RESOLVE, "resolve", "RESOLVE" },
	{ STP_CMD_RESOLVE_PTR, "resolve-ptr", "RESOLVE_PTR" },
	{ STP_CMD_FEATURES, "features", "FEATURES" },
	{ STP_CMD_BIND_MULTI, "bind-multi", "BIND_MULTI" },
	{ STP_CMD_ATTACH, "attach", "ATTACH" },
	{ STP_CMD_UDP_BIND, "udp-bind", "UDP_BIND" },
	{ STP_CMD_MCAST, "mcast", "MCAST" },
	{ STP_CMD_DNS, "dns", "DNS" },
	{ STP_CMD_MUX, "mux", "MUX" },
	{ STP_CMD_UDP_TCP, "udp-tcp", "UDP_TCP" },
	{ STP_CMD_CONFIG, "config", "CONFIG" },
};

int stp_cmd_index(uint8_t ver, uint8_t cmd)
{
	if (ver == 4) {
		if (cmd == STP4_CONNECT)
			cmd = STP_CMD_CONNECT;
		else if (cmd == STP4_BIND)
			cmd = STP_CMD_BIND;
		else
			return -1;
	}
	for (int i = 0; i < STP_NCMDS; i++)
		if (cmds[i].code == cmd)
			return i;
	return -1;
}

const char *stp_cmd_label(uint8_t ver, uint8_t cmd)
{
	if (cmd == 0)
		return "-";
	int i = stp_cmd_index(ver, cmd);
	return i < 0 ? "unknown" : cmds[i].label;
}

const char *stp_cmd_label_at(int i)
{
	return i >= 0 && i < STP_NCMDS ? cmds[i].label : "unknown";
}

const char *stp_cmd_str(uint8_t cmd)
{
	int i = stp_cmd_index(5, cmd);
	return i < 0 ? "command" : cmds[i].wire;
}
