package http

import (
	"context"
	"errors"
	"math/rand/v2"
	"sync"
	"time"
)

// Retry and circuit breaking are written here rather than taken from
// sony/gobreaker and cenkalti/backoff: the server needs one breaker
// (registry) and one retry loop, about 100 lines together, with an
// injectable clock and random source so the tests are deterministic. Two
// modules for that would add more API surface than code.

// ErrBreakerOpen is returned without calling the dependency while the
// breaker is open.
var ErrBreakerOpen = errors.New("circuit breaker open")

// Breaker is a consecutive-failure circuit breaker. After Threshold
// consecutive failures it opens for Cooldown; then one trial call is let
// through (half-open): success closes it, failure opens it again.
type Breaker struct {
	Threshold int
	Cooldown  time.Duration
	Now       func() time.Time // nil means time.Now

	mu       sync.Mutex
	failures int
	openedAt time.Time
	open     bool
	trial    bool // a half-open trial call is running
}

// NewBreaker returns a breaker opening after threshold consecutive failures
// for cooldown.
func NewBreaker(threshold int, cooldown time.Duration) *Breaker {
	return &Breaker{Threshold: threshold, Cooldown: cooldown}
}

func (b *Breaker) now() time.Time {
	if b.Now != nil {
		return b.Now()
	}
	return time.Now()
}

// State returns "closed", "open" or "half-open".
func (b *Breaker) State() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	switch {
	case !b.open:
		return "closed"
	case b.now().Sub(b.openedAt) >= b.Cooldown:
		return "half-open"
	}
	return "open"
}

// Do calls fn unless the breaker is open, and records the outcome.
// Context cancellation by the caller is not counted as a failure.
func (b *Breaker) Do(ctx context.Context, fn func(context.Context) error) error {
	if err := b.allow(); err != nil {
		return err
	}
	err := fn(ctx)
	b.record(err, errors.Is(ctx.Err(), context.Canceled))
	return err
}

func (b *Breaker) allow() error {
	b.mu.Lock()
	defer b.mu.Unlock()
	if !b.open {
		return nil
	}
	if b.trial || b.now().Sub(b.openedAt) < b.Cooldown {
		return ErrBreakerOpen
	}
	b.trial = true
	return nil
}

func (b *Breaker) record(err error, cancelled bool) {
	b.mu.Lock()
	defer b.mu.Unlock()
	wasTrial := b.trial
	b.trial = false
	switch {
	case err == nil || isPermanent(err):
		// A permanent error (not found, bad checksum) means the dependency
		// answered: it is up.
		b.failures, b.open = 0, false
	case cancelled && !wasTrial:
		// The caller gave up; that says nothing about the dependency.
	default:
		b.failures++
		if wasTrial || (b.Threshold > 0 && b.failures >= b.Threshold) {
			b.open, b.openedAt = true, b.now()
		}
	}
}

// Backoff is capped exponential backoff with full jitter.
type Backoff struct {
	Attempts int           // total tries (default 3)
	Initial  time.Duration // first delay bound (default 200ms)
	Max      time.Duration // delay cap (default 5s)
	// Rand returns a float in [0,1); nil uses math/rand/v2.
	Rand func() float64
	// Sleep waits d or until ctx ends; nil uses a timer.
	Sleep func(ctx context.Context, d time.Duration) error
}

func (b Backoff) withDefaults() Backoff {
	if b.Attempts <= 0 {
		b.Attempts = 3
	}
	if b.Initial <= 0 {
		b.Initial = 200 * time.Millisecond
	}
	if b.Max <= 0 {
		b.Max = 5 * time.Second
	}
	if b.Rand == nil {
		b.Rand = rand.Float64
	}
	if b.Sleep == nil {
		b.Sleep = sleepCtx
	}
	return b
}

// Delay returns the wait before retry number n (0-based): a uniform draw in
// [0, min(Max, Initial·2ⁿ)] ("full jitter"), which spreads the retries of
// many replicas instead of synchronising them.
func (b Backoff) Delay(n int) time.Duration {
	b = b.withDefaults()
	d := b.Initial
	for i := 0; i < n && d < b.Max; i++ {
		d *= 2
	}
	d = min(d, b.Max)
	return time.Duration(b.Rand() * float64(d))
}

// Retry calls fn until it succeeds, returns a permanent error, ctx ends or
// the attempts run out; it returns the last error.
func (b Backoff) Retry(ctx context.Context, fn func(context.Context) error) error {
	b = b.withDefaults()
	var err error
	for n := 0; n < b.Attempts; n++ {
		if n > 0 {
			if serr := b.Sleep(ctx, b.Delay(n-1)); serr != nil {
				return errors.Join(err, serr)
			}
		}
		if err = fn(ctx); err == nil || isPermanent(err) || errors.Is(err, ErrBreakerOpen) || ctx.Err() != nil {
			return err
		}
	}
	return err
}

func sleepCtx(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// permanentError marks an error that retrying cannot fix.
type permanentError struct{ err error }

func (e *permanentError) Error() string { return e.err.Error() }
func (e *permanentError) Unwrap() error { return e.err }

// Permanent wraps err so that Retry stops at once and the breaker does not
// count it (the dependency answered).
func Permanent(err error) error {
	if err == nil {
		return nil
	}
	return &permanentError{err}
}

func isPermanent(err error) bool {
	var p *permanentError
	return errors.As(err, &p)
}
