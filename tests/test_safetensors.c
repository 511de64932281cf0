/* placeholder: being written */
#include "testutil.h"
static Suite *s(void){ return suite_create("safetensors"); }
TEST_MAIN(s)
