/* placeholder: being written */
#include "testutil.h"
static Suite *s(void){ return suite_create("gguf"); }
TEST_MAIN(s)
