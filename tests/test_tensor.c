/* test_tensor.c: the dtype table. */
#include "testutil.h"
#include "tensor.h"

START_TEST(test_row_bytes){
  ck_assert_uint_eq(tensor_row_bytes(TENSOR_F32, 896), 3584);
  ck_assert_uint_eq(tensor_row_bytes(TENSOR_F16, 896), 1792);
  ck_assert_uint_eq(tensor_row_bytes(TENSOR_BF16, 3), 6);
  ck_assert_uint_eq(tensor_row_bytes(TENSOR_Q8_0, 896), 28 * 34);
  ck_assert_uint_eq(tensor_row_bytes(TENSOR_Q8_0, 33), 0);    /* not whole blocks */
  ck_assert_uint_eq(tensor_row_bytes(TENSOR_F32, 0), 0);
  ck_assert_uint_eq(tensor_row_bytes(TENSOR_F32, UINT64_MAX / 2), 0);  /* overflow */
  ck_assert_uint_eq(tensor_row_bytes((tensor_dtype)2, 32), 0);  /* q4_0: not stored */
}
END_TEST

START_TEST(test_names){
  ck_assert_str_eq(tensor_dtype_name(TENSOR_BF16), "bf16");
  ck_assert_int_eq(tensor_dtype_from_name("Q8_0"), TENSOR_Q8_0);
  ck_assert_int_eq(tensor_dtype_from_name("q4_k"), -1);
  ck_assert_ptr_null(tensor_dtype_name(12));
  ck_assert(tensor_dtype_known(TENSOR_F16));
  ck_assert(!tensor_dtype_known(2));
}
END_TEST

static Suite *tensor_suite(void){
  Suite *s = suite_create("tensor");
  TCase *tc = tcase_create("dtype");
  tcase_add_test(tc, test_row_bytes);
  tcase_add_test(tc, test_names);
  suite_add_tcase(s, tc);
  return s;
}

TEST_MAIN(tensor_suite)
