/* placeholder: being written */
#include "testutil.h"
static Suite *s(void){ return suite_create("tokenizer"); }
TEST_MAIN(s)
