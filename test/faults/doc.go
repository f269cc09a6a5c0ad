// Package faults runs orders through the local stack while components are
// killed, restarted or made flaky, then audits money, stock and workflows.
// Its tests carry the faults build tag: `make test-faults`.
package faults
