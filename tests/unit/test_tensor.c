/* test_tensor.c: the dtype table and the tile layouts. */
#include "kernels/tensor.h"
#include "../testutil.h"

#include <string.h>

START_TEST(test_row_bytes){
  ck_assert_uint_eq(tensor_row_bytes(TENSOR_F32, 896), 3584);
  ck_assert_uint_eq(tensor_row_bytes(TENSOR_F16, 896), 1792);
  ck_assert_uint_eq(tensor_row_bytes(TENSOR_BF16, 3), 6);
  ck_assert_uint_eq(tensor_row_bytes(TENSOR_Q8_0, 896), 28 * 34);
  ck_assert_uint_eq(tensor_row_bytes(TENSOR_Q8_0, 33), 0);    /* not whole blocks */
  ck_assert_uint_eq(tensor_row_bytes(TENSOR_F32, 0), 0);
  ck_assert_uint_eq(tensor_row_bytes(TENSOR_F32, UINT64_MAX / 2), 0);  /* overflow */
  ck_assert_uint_eq(tensor_row_bytes((tensor_dtype)16, 256), 0);  /* iq2_xxs: not stored */
  /* GGUF's block sizes (ggml-common.h) */
  ck_assert_uint_eq(tensor_row_bytes(TENSOR_Q4_0, 64), 2 * 18);
  ck_assert_uint_eq(tensor_row_bytes(TENSOR_Q4_1, 64), 2 * 20);
  ck_assert_uint_eq(tensor_row_bytes(TENSOR_Q5_0, 64), 2 * 22);
  ck_assert_uint_eq(tensor_row_bytes(TENSOR_Q5_1, 64), 2 * 24);
  ck_assert_uint_eq(tensor_row_bytes(TENSOR_IQ4_NL, 64), 2 * 18);
  ck_assert_uint_eq(tensor_row_bytes(TENSOR_Q2_K, 768), 3 * 84);
  ck_assert_uint_eq(tensor_row_bytes(TENSOR_Q3_K, 768), 3 * 110);
  ck_assert_uint_eq(tensor_row_bytes(TENSOR_Q4_K, 768), 3 * 144);
  ck_assert_uint_eq(tensor_row_bytes(TENSOR_Q5_K, 768), 3 * 176);
  ck_assert_uint_eq(tensor_row_bytes(TENSOR_Q6_K, 768), 3 * 210);
  ck_assert_uint_eq(tensor_row_bytes(TENSOR_Q6_K, 896), 0);     /* k-quants: 256s only */
}
END_TEST

START_TEST(test_names){
  ck_assert_str_eq(tensor_dtype_name(TENSOR_BF16), "bf16");
  ck_assert_int_eq(tensor_dtype_from_name("Q8_0"), TENSOR_Q8_0);
  ck_assert_int_eq(tensor_dtype_from_name("iq4_xs"), -1);
  ck_assert_ptr_null(tensor_dtype_name(16));   /* iq2_xxs */
  ck_assert(tensor_dtype_known(TENSOR_F16));
  ck_assert(tensor_dtype_known(TENSOR_Q4_0));
  ck_assert_str_eq(tensor_dtype_name(TENSOR_IQ4_NL), "iq4_nl");
  ck_assert_int_eq(tensor_dtype_from_name("Q6_K"), TENSOR_Q6_K);
  ck_assert(tensor_dtype_known(TENSOR_Q4_K));
  ck_assert(!tensor_dtype_known(16));     /* iq2_xxs */
  ck_assert(!tensor_dtype_known(23));     /* iq4_xs */
}
END_TEST

START_TEST(test_tile_bytes){
  ck_assert_uint_eq(tensor_tile_bytes(TENSOR_F32, 3, 10), 120);
  ck_assert_uint_eq(tensor_tile_bytes(TENSOR_Q8_0, 32, 896), 32 * 28 * 34);
  ck_assert_uint_eq(tensor_tile_bytes(TENSOR_Q8_0, 17, 64), 32 * 2 * 34);  /* padded group */
  ck_assert_uint_eq(tensor_tile_bytes(TENSOR_Q8_0, 1, 64), 16 * 2 * 34);
  ck_assert_uint_eq(tensor_tile_bytes(TENSOR_Q8_0, 5, 33), 0);
  ck_assert_uint_eq(tensor_tile_bytes(TENSOR_Q4_0, 17, 64), 17 * 2 * 18);   /* rows as they are */
}
END_TEST

/* A Q8_0 tile, byte by byte as tensor.h draws it: for group g and block
** b, 16 scales then 8 runs of 4 values of each of the 16 rows. */
START_TEST(test_q8_0_pack){
  enum { ROWS = 21, COLS = 64, BLOCKS = COLS / 32, ROW_BYTES = BLOCKS * 34 };
  uint8_t rows[ROWS * ROW_BYTES], tile[32 * ROW_BYTES];
  for(size_t i = 0; i < sizeof rows; i++) rows[i] = (uint8_t)(i * 7 + i / 34);
  memset(tile, 0xee, sizeof tile);
  tensor_tile_pack(TENSOR_Q8_0, rows, ROWS, COLS, tile);
  for(size_t g = 0; g < 2; g++){
    for(size_t b = 0; b < BLOCKS; b++){
      const uint8_t *at = tile + (g * BLOCKS + b) * 16 * 34;
      for(size_t k = 0; k < 16; k++){
        size_t r = g * 16 + k;
        const uint8_t *block = rows + r * ROW_BYTES + b * 34;
        for(size_t i = 0; i < 2; i++){
          ck_assert_uint_eq(at[2 * k + i], r < ROWS ? block[i] : 0);
        }
        for(size_t c = 0; c < 32; c++){
          ck_assert_uint_eq(at[32 + (c / 4) * 64 + 4 * k + c % 4], r < ROWS ? block[2 + c] : 0);
        }
      }
    }
  }
  for(size_t r = 0; r < ROWS; r++){
    for(size_t b = 0; b < BLOCKS; b++){
      uint8_t block[34];
      tensor_tile_q8_0_block(tile, COLS, r, b, block);
      ck_assert(memcmp(block, rows + r * ROW_BYTES + b * 34, 34) == 0);
    }
  }
}
END_TEST

START_TEST(test_dense_pack){
  float rows[6] = { 1, 2, 3, 4, 5, 6 }, tile[6];
  tensor_tile_pack(TENSOR_F32, rows, 2, 3, tile);
  ck_assert(memcmp(rows, tile, sizeof rows) == 0);
}
END_TEST

static Suite *tensor_suite(void){
  Suite *s = suite_create("tensor");
  TCase *tc = tcase_create("dtype");
  tcase_add_test(tc, test_row_bytes);
  tcase_add_test(tc, test_names);
  tcase_add_test(tc, test_tile_bytes);
  tcase_add_test(tc, test_q8_0_pack);
  tcase_add_test(tc, test_dense_pack);
  suite_add_tcase(s, tc);
  return s;
}

TEST_MAIN(tensor_suite)
