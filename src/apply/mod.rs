//! Applying a plan: execute steps in order against the kernel, then verify by observing again.
