/*
** probe.c: a streaming-read memory bandwidth probe (see probe.h).
**
**   double bytes_per_second = probe_read_bandwidth(512u << 20, 2, 3);
**
** How it works: the buffer is mapped anonymously (huge pages requested),
** written once so every page is real, then each pass wakes its threads
** and times until the last one has summed its slice.  The sum is
** kept, so the compiler cannot drop the loads.  The AVX2 loop is compiled
** for AVX2 with a target attribute and chosen at run time, so the file
** builds with the engine's ordinary flags.
*/
#include "probe.h"
#include "clock.h"

#include <pthread.h>
#include <stdint.h>
#include <string.h>
#include <sys/mman.h>

#if defined(__x86_64__) || defined(__i386__)
#include <immintrin.h>
#define PROBE_X86 1
#endif

/* ---- the loops --------------------------------------------------------------- */

/* Each thread reads its slice as PROBE_STREAMS runs side by side, 128
** bytes of each in turn, as the Q8_0 decode kernels read four weight
** groups (kernels_internal.h).  One core pulls more bandwidth from several
** streams than from one: on an Intel Xeon, 4 streams read 12.5 GB/s on 1
** thread and 22.6 on 2, where one stream read 10.6 and 18.7 (medians of
** 15 passes each, alternating).  With one stream the probe understated
** the machine, and decode "efficiency" passed 1. */
#define PROBE_STREAMS 4
#define PROBE_STEP 128                        /* bytes of a stream in turn */
_Static_assert(PROBE_UNIT == PROBE_STREAMS * PROBE_STEP, "probe.h's PROBE_UNIT");

/* Sum of n bytes (n a multiple of PROBE_UNIT) as 64-bit words. */
static uint64_t sum_scalar(const uint64_t *p, size_t n){
  const size_t run = n / PROBE_STREAMS / 8;   /* words of each stream */
  uint64_t a = 0, b = 0, c = 0, d = 0;
  for(size_t i = 0; i < run; i += PROBE_STEP / 8){
    for(int s = 0; s < PROBE_STREAMS; s++){
      const uint64_t *q = p + s * run + i;
      for(int k = 0; k < PROBE_STEP / 8; k += 4){
        a += q[k]; b += q[k + 1]; c += q[k + 2]; d += q[k + 3];
      }
    }
  }
  return a + b + c + d;
}

#ifdef PROBE_X86
/* The same sum with 256-bit loads and four independent accumulators, so
** the loop is bound by loads, not by the adds' latency. */
__attribute__((target("avx2")))
static uint64_t sum_avx2(const uint64_t *p, size_t n){
  const size_t run = n / PROBE_STREAMS / 32;  /* vectors of each stream */
  const __m256i *v = (const __m256i*)p;
  __m256i a = _mm256_setzero_si256(), b = a, c = a, d = a;
  for(size_t i = 0; i < run; i += 4){
    for(int s = 0; s < PROBE_STREAMS; s++){
      const __m256i *q = v + s * run + i;
      a = _mm256_add_epi64(a, _mm256_load_si256(q));
      b = _mm256_add_epi64(b, _mm256_load_si256(q + 1));
      c = _mm256_add_epi64(c, _mm256_load_si256(q + 2));
      d = _mm256_add_epi64(d, _mm256_load_si256(q + 3));
    }
  }
  a = _mm256_add_epi64(_mm256_add_epi64(a, b), _mm256_add_epi64(c, d));
  uint64_t lanes[4];
  _mm256_storeu_si256((__m256i*)lanes, a);
  return lanes[0] + lanes[1] + lanes[2] + lanes[3];
}
#endif

int probe_uses_avx2(void){
#ifdef PROBE_X86
  __builtin_cpu_init();
  return __builtin_cpu_supports("avx2") != 0;
#else
  return 0;
#endif
}

uint64_t probe_sum(const void *buf, size_t bytes, int avx2){
#ifdef PROBE_X86
  if( avx2 ) return sum_avx2(buf, bytes);
#endif
  return sum_scalar(buf, bytes);
}

/* ---- threads ----------------------------------------------------------------- */

/* The start line: helpers sleep on it until the timer releases them all. */
typedef struct probe_start {
  pthread_mutex_t lock;
  pthread_cond_t go;
  int released;             /* 1: start; guarded by lock */
} probe_start;

typedef struct probe_slice {
  const uint64_t *data;
  size_t bytes;             /* a multiple of PROBE_UNIT */
  int avx2;
  probe_start *start;
  uint64_t sum;             /* written by the thread, read after join */
} probe_slice;


static void *probe_thread(void *arg){
  probe_slice *s = arg;
  pthread_mutex_lock(&s->start->lock);
  while( !s->start->released ) pthread_cond_wait(&s->start->go, &s->start->lock);
  pthread_mutex_unlock(&s->start->lock);
  s->sum = probe_sum(s->data, s->bytes, s->avx2);
  return 0;
}

/* One timed pass over bytes of buf (bytes / threads a multiple of PROBE_UNIT)
** with `threads` threads; seconds, or -1 if a thread could not start. */
static double probe_pass(const uint8_t *buf, size_t bytes, int threads, int avx2,
                         volatile uint64_t *sink){
  enum { MAX_THREADS = 64 };
  probe_slice slice[MAX_THREADS];
  pthread_t tid[MAX_THREADS];
  probe_start start = { PTHREAD_MUTEX_INITIALIZER, PTHREAD_COND_INITIALIZER, 0 };
  if( threads > MAX_THREADS ) threads = MAX_THREADS;
  size_t per = bytes / (size_t)threads;
  for(int i = 0; i < threads; i++){
    slice[i] = (probe_slice){ (const uint64_t*)(buf + per * (size_t)i), per, avx2, &start, 0 };
  }
  /* threads - 1 helpers; this thread sums the last slice and keeps time */
  int started = 0;
  while( started < threads - 1
      && pthread_create(&tid[started], 0, probe_thread, &slice[started]) == 0 ) started++;
  pthread_mutex_lock(&start.lock);
  start.released = 1;
  pthread_cond_broadcast(&start.go);
  pthread_mutex_unlock(&start.lock);
  double t0 = clock_seconds();
  slice[threads - 1].sum = probe_sum(slice[threads - 1].data, slice[threads - 1].bytes, avx2);
  for(int i = 0; i < started; i++) pthread_join(tid[i], 0);
  double seconds = clock_seconds() - t0;
  for(int i = 0; i < threads; i++) *sink += slice[i].sum;
  return started == threads - 1 ? seconds : -1;
}

/* ---- the probe ----------------------------------------------------------------- */

double probe_read_bandwidth(size_t bytes, int threads, int passes){
  if( passes < 1 ) passes = 1;
  threads = threads < 1 ? 1 : threads > 64 ? 64 : threads;
  size_t read = bytes / (size_t)threads / PROBE_UNIT * PROBE_UNIT * (size_t)threads;
  if( read == 0 ) return -1;
  uint8_t *buf = mmap(0, bytes, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  if( buf == MAP_FAILED ) return -1;
#ifdef MADV_HUGEPAGE
  madvise(buf, bytes, MADV_HUGEPAGE);
#endif
  /* non-zero, so no page can stay the shared zero page */
  memset(buf, 1, bytes);
  int avx2 = probe_uses_avx2();
  volatile uint64_t sink = 0;
  double rate = -1;
  for(int pass = 0; pass < passes; pass++){
    double seconds = probe_pass(buf, read, threads, avx2, &sink);
    if( seconds <= 0 ){
      rate = -1;
      break;
    }
    if( read / seconds > rate ) rate = read / seconds;
  }
  munmap(buf, bytes);
  return rate;
}
