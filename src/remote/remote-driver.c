/* Placeholder: replaced by the RPC client driver. */
#include "ferry-config.h"

#include "remote/remote-driver.h"
#include "util/uri.h"

static gboolean
remote_conn_probe(const ferry_uri *uri)
{
    return FALSE;
}

const ferry_driver ferry_remote_driver = {
    .name = "remote",
    .conn_probe = remote_conn_probe,
};
