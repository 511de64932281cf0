/* placeholder: being written */
#include "testutil.h"
static Suite *s(void){ return suite_create("kernels"); }
TEST_MAIN(s)
