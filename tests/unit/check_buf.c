/* Capped growable buffers (ah_buf): growth, the cap refusing without changing the buffer,
 * formatted appends past the stack scratch, take/free. */
#include "config.h"

#include <stdlib.h>
#include <string.h>

#include "checkutil.h"

START_TEST(test_buf_grows_and_stays_nul_terminated)
{
    ah_buf b;
    ah_buf_init(&b, 1 << 20);
    ck_assert_str_eq(ah_buf_data(&b), "");
    for (int i = 0; i < 1000; i++)
        ck_assert_int_eq(ah_buf_add(&b, "0123456789", 10), 0);
    ck_assert_uint_eq(ah_buf_len(&b), 10000);
    ck_assert_int_eq(ah_buf_data(&b)[10000], '\0');
    ck_assert_int_eq(memcmp(ah_buf_data(&b) + 9990, "0123456789", 10), 0);
    ah_buf_truncate(&b, 3);
    ck_assert_str_eq(ah_buf_data(&b), "012");
    ah_buf_free(&b);
    ck_assert_uint_eq(ah_buf_len(&b), 0);
}
END_TEST

START_TEST(test_buf_past_its_cap_is_etoobig_and_unchanged)
{
    ah_buf b;
    ah_buf_init(&b, 16);
    ck_assert_int_eq(ah_buf_adds(&b, "0123456789"), 0);
    ck_assert_int_eq(ah_buf_adds(&b, "abcdefg"), AH_ETOOBIG); /* 17 bytes */
    ck_assert_str_eq(ah_buf_data(&b), "0123456789");
    ah_buf_free(&b);
    ah_buf_init(&b, 16);
    ck_assert_int_eq(ah_buf_adds(&b, "0123456789abcdef"), 0); /* exactly 16 */
    ck_assert_int_eq(ah_buf_add(&b, "x", 1), AH_ETOOBIG);
    ck_assert_str_eq(ah_buf_data(&b), "0123456789abcdef");
    ah_buf_free(&b);
    ah_buf_init(&b, 16);
    ck_assert_int_eq(ah_buf_addf(&b, "%s", "0123456789abcdefg"), AH_ETOOBIG);
    ah_buf_free(&b);
    /* a length that would wrap around the cap check */
    ah_buf_init(&b, 16);
    ck_assert_int_eq(ah_buf_adds(&b, "x"), 0);
    ck_assert_int_eq(ah_buf_add(&b, "x", SIZE_MAX), AH_ETOOBIG);
    ah_buf_free(&b);
}
END_TEST

START_TEST(test_buf_addf_formats_long_text)
{
    ah_buf b;
    ah_buf_init(&b, 4096);
    char word[1001];
    memset(word, 'w', 1000);
    word[1000] = '\0';
    ck_assert_int_eq(ah_buf_addf(&b, "<%s|%d>", word, 42), 0); /* past the 256-byte scratch */
    ck_assert_uint_eq(ah_buf_len(&b), 1005);
    ck_assert_int_eq(memcmp(ah_buf_data(&b) + 1001, "|42>", 4), 0);
    ck_assert_int_eq(ah_buf_addf(&b, "%s%s%s%s", word, word, word, word), AH_ETOOBIG);
    ck_assert_uint_eq(ah_buf_len(&b), 1005);
    ck_assert_int_eq(ah_buf_error(&b), AH_ETOOBIG);
    char *owned = ah_buf_take(&b);
    ck_assert_ptr_nonnull(owned);
    ck_assert_uint_eq(strlen(owned), 1005);
    free(owned);
    ck_assert_uint_eq(ah_buf_len(&b), 0);
    ck_assert_int_eq(ah_buf_adds(&b, "again"), 0); /* the cap stays, the error is gone */
    ck_assert_str_eq(ah_buf_data(&b), "again");
    ah_buf_free(&b);
}
END_TEST

START_TEST(test_buf_starts_in_callers_memory_then_moves_to_heap)
{
    char stack[8];
    ah_buf b;
    ah_buf_init_with(&b, stack, sizeof(stack), 64);
    ck_assert_int_eq(ah_buf_adds(&b, "1234567"), 0); /* 7 + NUL: still the caller's */
    ck_assert_ptr_eq(ah_buf_data(&b), stack);
    ck_assert_int_eq(ah_buf_adds(&b, "89"), 0);
    ck_assert_ptr_ne(ah_buf_data(&b), stack);
    ck_assert_str_eq(ah_buf_data(&b), "123456789");
    ah_buf_free(&b); /* frees the heap copy, never the stack */
    ah_buf_init_with(&b, stack, sizeof(stack), 64);
    ck_assert_int_eq(ah_buf_adds(&b, "abc"), 0);
    char *owned = ah_buf_take(&b); /* a copy out of the caller's memory */
    ck_assert_ptr_ne(owned, stack);
    ck_assert_str_eq(owned, "abc");
    free(owned);
}
END_TEST

START_TEST(test_buf_error_is_sticky)
{
    ah_buf b;
    ah_buf_init(&b, 4);
    ck_assert_int_eq(ah_buf_adds(&b, "abcde"), AH_ETOOBIG);
    ck_assert_int_eq(ah_buf_adds(&b, "a"), AH_ETOOBIG); /* would fit: the error sticks */
    ck_assert_int_eq(ah_buf_error(&b), AH_ETOOBIG);
    ck_assert_str_eq(ah_buf_data(&b), "");
    ah_buf_free(&b);
    ck_assert_int_eq(ah_buf_error(&b), 0);
    ck_assert_int_eq(ah_buf_adds(&b, "a"), 0);
    ah_buf_free(&b);
}
END_TEST

/* Room taken with ah_buf_space and written without a commit (a read that returned nothing,
 * after writing): what ah_buf_take hands out is still the committed bytes, terminated. Before,
 * an empty body from ah_client_response_body was an unterminated heap buffer (fuzzing's F3). */
START_TEST(test_buf_take_terminates_after_uncommitted_space)
{
    ah_buf b;
    ah_buf_init(&b, 1024);
    size_t room;
    char *at = ah_buf_space(&b, 16, &room);
    ck_assert_ptr_nonnull(at);
    ck_assert_uint_ge(room, 16);
    memset(at, 'x', room);
    char *owned = ah_buf_take(&b);
    ck_assert_str_eq(owned, "");
    free(owned);
    ck_assert_int_eq(ah_buf_adds(&b, "ab"), 0);
    at = ah_buf_space(&b, 8, &room);
    memset(at, 'y', room);
    ah_buf_commit(&b, 1);
    ck_assert_str_eq(ah_buf_data(&b), "aby");
    owned = ah_buf_take(&b);
    ck_assert_str_eq(owned, "aby");
    free(owned);
}
END_TEST

static Suite *buf_suite(void)
{
    Suite *s = suite_create("buf");
    TCase *tc = tcase_create("core");
    tcase_add_test(tc, test_buf_grows_and_stays_nul_terminated);
    tcase_add_test(tc, test_buf_past_its_cap_is_etoobig_and_unchanged);
    tcase_add_test(tc, test_buf_addf_formats_long_text);
    tcase_add_test(tc, test_buf_starts_in_callers_memory_then_moves_to_heap);
    tcase_add_test(tc, test_buf_error_is_sticky);
    tcase_add_test(tc, test_buf_take_terminates_after_uncommitted_space);
    suite_add_tcase(s, tc);
    return s;
}

int main(void) { return ah_check_run(buf_suite()); }
