/* placeholder: being written */
#include "testutil.h"
static Suite *s(void){ return suite_create("import"); }
TEST_MAIN(s)
