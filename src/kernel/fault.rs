//! Fault injection: a TEST SEAM, not a feature. It makes the k-th step request handed to a
//! [`Kernel`](super::Kernel) fail, so that tests can prove that apply's rollback restores the host
//! whatever step fails (tests/rollback_faults.rs fails a representative plan at every k in turn).
//! The shipped CLI never arms it: there is no flag or environment variable for it, only this
//! library API ([`super::Kernel::inject`], [`super::Kernel::inject_when`]).
//!
//! Counting: requests are numbered from 1 in the order they are handed to the kernel layer:
//! one per [`super::Kernel::execute`] call (one step), one per step of a
//! [`super::Kernel::execute_all`] call (a wave's steps, in the order given, whether they then go
//! one by one or in bulk), and one per step of a [`super::Kernel::execute_nft_batch`] call (an
//! nftables transaction of n steps takes n numbers).
//! The number is taken when the call is made, not when its future first runs, so the steps of a
//! wave, handed over in plan order and then run concurrently, are numbered in plan order. A k
//! inside an nftables transaction fails the whole transaction before anything is sent, as the
//! kernel's own transaction rollback would (`nothing_applied: true`); a k among entries sent in
//! bulk fails that step alone, as the kernel's refusal of one request of a datagram would. The fault fires once: later requests (the rest of
//! the run, the rollback) pass, and keep being counted.
//!
//! [`When::AfterSending`] is the other failure a caller must survive: the request is carried out
//! and then reported failed, as when the kernel's reply is lost (for a batch, `nothing_applied:
//! false`: the outcome is unknown to the caller). A rollback must undo that step too, although
//! apply counts it as not applied.

use super::KernelError;
use std::sync::Mutex;
use std::sync::atomic::{AtomicUsize, Ordering};

/// Which request to fail: the `k`-th (from 1) step request after [`super::Kernel::inject`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FailAt(pub usize);

/// When the failing request fails.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum When {
    /// Before anything is sent: the kernel never sees the request.
    #[default]
    BeforeSending,
    /// After it was carried out: the kernel did it, the caller hears it failed.
    AfterSending,
}

/// The fault that fired: its number and the object of the step it failed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Injected {
    pub k: usize,
    /// The key of the failed step's object, as [`crate::state::ObjectKey`]'s `Display` writes it.
    pub object: String,
    /// For a k inside an nftables transaction: the step's index in it (the whole batch failed).
    pub in_batch: Option<usize>,
    pub when: When,
}

/// The armed fault of a kernel, and the request counter.
#[derive(Debug)]
pub(crate) struct Injector {
    k: usize,
    when: When,
    count: AtomicUsize,
    fired: Mutex<Option<Injected>>,
}

impl Injector {
    pub(crate) fn new(at: FailAt, when: When) -> Injector {
        Injector {
            k: at.0,
            when,
            count: AtomicUsize::new(0),
            fired: Mutex::new(None),
        }
    }

    /// Count one step request for `object`; the injected error if it is the k-th.
    pub(crate) fn single(&self, object: impl FnOnce() -> String) -> Option<KernelError> {
        let n = self.count.fetch_add(1, Ordering::SeqCst) + 1;
        (n == self.k).then(|| self.fire(object(), None))
    }

    /// Count the `len` step requests of one nftables transaction (`object(i)` names step i);
    /// when the k-th is among them: its index in the batch and the injected error.
    pub(crate) fn batch(
        &self,
        len: usize,
        object: impl FnOnce(usize) -> String,
    ) -> Option<(usize, KernelError)> {
        let first = self.count.fetch_add(len, Ordering::SeqCst) + 1;
        if self.k < first || self.k >= first + len {
            return None;
        }
        let i = self.k - first;
        Some((i, self.fire(object(i), Some(i))))
    }

    /// When the armed fault fails its request.
    pub(crate) fn when(&self) -> When {
        self.when
    }

    /// Step requests counted so far.
    pub(crate) fn requests(&self) -> usize {
        self.count.load(Ordering::SeqCst)
    }

    /// The fault, if it fired.
    pub(crate) fn fired(&self) -> Option<Injected> {
        super::lock(&self.fired).clone()
    }

    fn fire(&self, object: String, in_batch: Option<usize>) -> KernelError {
        *super::lock(&self.fired) = Some(Injected {
            k: self.k,
            object: object.clone(),
            in_batch,
            when: self.when,
        });
        KernelError::Injected {
            k: self.k,
            object,
            carried_out: self.when == When::AfterSending,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_kth_single_request_fails_once_and_counting_goes_on() {
        let inj = Injector::new(FailAt(3), When::BeforeSending);
        let results: Vec<bool> = (1..=6)
            .map(|n| inj.single(|| format!("link host/l{n}")).is_some())
            .collect();
        assert_eq!(results, [false, false, true, false, false, false]);
        assert_eq!(inj.requests(), 6);
        let fired = inj.fired().expect("fired");
        assert_eq!(
            fired,
            Injected {
                k: 3,
                object: "link host/l3".into(),
                in_batch: None,
                when: When::BeforeSending,
            }
        );
    }

    #[test]
    fn a_batch_takes_one_number_per_step_and_fails_whole_when_k_is_inside() {
        // Requests: 1 single, then a batch of 4 (2..=5), then a single (6).
        for k in 1..=6 {
            let inj = Injector::new(FailAt(k), When::BeforeSending);
            let a = inj.single(|| "a".into());
            let b = inj.batch(4, |i| format!("rule {i}"));
            let c = inj.single(|| "c".into());
            assert_eq!(a.is_some(), k == 1, "k={k}");
            assert_eq!(c.is_some(), k == 6, "k={k}");
            match b {
                Some((i, e)) => {
                    assert!((2..=5).contains(&k), "k={k}");
                    assert_eq!(i, k - 2);
                    assert_eq!(inj.fired().unwrap().in_batch, Some(k - 2));
                    assert!(e.to_string().contains(&format!("rule {}", k - 2)));
                }
                None => assert!(!(2..=5).contains(&k), "k={k}"),
            }
            assert_eq!(inj.requests(), 6);
        }
    }

    #[test]
    fn nothing_fires_beyond_the_last_request_or_at_zero() {
        for k in [0, 4] {
            let inj = Injector::new(FailAt(k), When::BeforeSending);
            assert!(inj.single(|| "a".into()).is_none());
            assert!(inj.batch(2, |_| "b".into()).is_none());
            assert!(inj.fired().is_none());
        }
    }

    #[test]
    fn the_error_says_it_is_injected() {
        let e = Injector::new(FailAt(1), When::BeforeSending)
            .single(|| "link host/br-x".into())
            .expect("fires");
        assert_eq!(
            e.to_string(),
            "injected fault (test seam): step request 1 (link host/br-x) failed on purpose"
        );
        assert_eq!(e.raw_os_error(), None);
        assert!(!e.is_unsupported());
        let inj = Injector::new(FailAt(1), When::AfterSending);
        let e = inj.single(|| "link host/br-x".into()).expect("fires");
        assert_eq!(
            e.to_string(),
            "injected fault (test seam): step request 1 (link host/br-x) was carried out, then reported failed on purpose"
        );
        assert_eq!(inj.fired().unwrap().when, When::AfterSending);
    }
}
