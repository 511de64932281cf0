/*
** probe.h: how fast this machine streams memory right now.
**
** `tensql bench` runs the probe between model runs (probe, model, probe,
** model, ...) and divides the weight bytes a decode step must stream by
** the probe's bytes per second: decode speed as a fraction of what memory
** bandwidth allows.  The figure swings up to 2x between runs on shared
** virtual machines, which is why it is measured next to each model run
** rather than once.
**
** The probe sums a buffer larger than the caches (512 MB by default), with
** AVX2 loads where the CPU has them, split evenly over `threads` threads,
** each reading its slice as four streams side by side (probe.c says why).
*/
#ifndef TENSQL_PROBE_H
#define TENSQL_PROBE_H

#include <stddef.h>
#include <stdint.h>

/* Read bandwidth in bytes per second: the best of `passes` passes, each
** summing a `bytes`-byte buffer with `threads` threads.  The buffer is
** mapped, filled, read and unmapped within the call, so nothing stays
** resident afterwards.  Returns a negative number if the buffer cannot be
** mapped or a thread cannot be started. */
double probe_read_bandwidth(size_t bytes, int threads, int passes);

/* Whether the probe's loop uses AVX2 on this CPU. */
int probe_uses_avx2(void);

/* The sum of the 64-bit words of buf, read as one probe thread reads its
** slice: four runs side by side, 128 bytes of each in turn; with AVX2
** loads if avx2, which only probe_uses_avx2() may make nonzero (the check
** stays out of the timed passes).  bytes is a multiple of PROBE_UNIT and
** buf is 32-byte aligned. */
#define PROBE_UNIT 512
uint64_t probe_sum(const void *buf, size_t bytes, int avx2);

#endif
