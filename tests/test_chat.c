/* placeholder: being written */
#include "testutil.h"
static Suite *s(void){ return suite_create("chat"); }
TEST_MAIN(s)
