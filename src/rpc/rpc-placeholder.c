/* Placeholder: replaced by framing, RPC client and server. */
#include "ferry-config.h"

int ferry_rpc_placeholder(void);

int
ferry_rpc_placeholder(void)
{
    return 0;
}
