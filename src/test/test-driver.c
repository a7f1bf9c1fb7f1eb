/* Placeholder: replaced by the test driver. */
#include "ferry-config.h"

#include "test/test-driver.h"
#include "util/uri.h"

static gboolean
test_conn_probe(const ferry_uri *uri)
{
    return FALSE;
}

const ferry_driver ferry_test_driver = {
    .name = "test",
    .conn_probe = test_conn_probe,
};
