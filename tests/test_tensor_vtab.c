/* placeholder: being written */
#include "testutil.h"
static Suite *s(void){ return suite_create("tensor_vtab"); }
TEST_MAIN(s)
