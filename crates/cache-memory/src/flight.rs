//! One in-progress `get_or_insert_with` load that other threads can wait for.

use std::sync::{Condvar, Mutex};

pub(crate) enum FlightOutcome<V> {
    /// The loader stored this value.
    Done(V),
    /// The loader failed or panicked; waiters start over.
    Abandoned,
}

pub(crate) struct Flight<V> {
    outcome: Mutex<Option<FlightOutcome<V>>>,
    finished: Condvar,
}

impl<V> Flight<V> {
    pub(crate) fn new() -> Self {
        Flight {
            outcome: Mutex::new(None),
            finished: Condvar::new(),
        }
    }

    pub(crate) fn finish(&self, result: FlightOutcome<V>) {
        *self
            .outcome
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner()) = Some(result);
        self.finished.notify_all();
    }
}

impl<V: Clone> Flight<V> {
    /// Blocks until the loader finishes and returns its outcome.
    pub(crate) fn wait(&self) -> FlightOutcome<V> {
        let mut outcome = self
            .outcome
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        loop {
            match &*outcome {
                Some(FlightOutcome::Done(v)) => return FlightOutcome::Done(v.clone()),
                Some(FlightOutcome::Abandoned) => return FlightOutcome::Abandoned,
                None => {
                    outcome = self
                        .finished
                        .wait(outcome)
                        .unwrap_or_else(|poisoned| poisoned.into_inner());
                }
            }
        }
    }
}
