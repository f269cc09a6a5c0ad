// Package faults runs orders through the local stack while components are
// killed, stalled, restarted or made flaky, each fault struck while charges
// are in flight, then audits money at the provider, stock and workflows.
// Its tests carry the faults build tag: `make test-faults`.
package faults
