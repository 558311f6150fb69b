//! A publisher's encoders: its [`Output`] and the forks of it ([`Output::fork`]), each used by
//! one flush at a time and run on a worker thread (tokio's blocking pool), so that encoding and
//! signing are spread over cores instead of running on the actor's thread, which is shared by
//! the listeners, the pipeline and every publisher.
//!
//! An output that cannot fork (one file to rotate, per-resource state) has one encoder: its
//! flushes are encoded one after another, still off the actor's thread. What this module does
//! not do: ordering the writes (the publisher actor starts them in flush order), retries, acks.

use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::{Arc, Mutex};

use tokio::sync::Semaphore;

use crate::publish::{Items, Output, PublishError, Write};

/// How an encode ended.
pub enum Encoded {
    Ready(Write),
    /// The output refused the flush: nothing was written.
    Failed(PublishError),
    /// The output panicked on the flush: nothing was written.
    Panicked,
}

pub struct Encoders {
    idle: Mutex<Vec<Box<dyn Output>>>,
    /// One permit per idle encoder.
    free: Semaphore,
}

impl Encoders {
    /// `output` and up to `count - 1` forks of it (fewer if it cannot fork).
    pub fn new(output: Box<dyn Output>, count: usize) -> Arc<Encoders> {
        let mut idle = Vec::with_capacity(count.max(1));
        while idle.len() + 1 < count {
            match output.fork() {
                Some(fork) => idle.push(fork),
                None => break,
            }
        }
        idle.push(output);
        Arc::new(Encoders {
            free: Semaphore::new(idle.len()),
            idle: Mutex::new(idle),
        })
    }

    /// Encode `flush` on a worker thread of `runtime` with the first encoder free (waiting for
    /// one if all are busy), then give the encoder back.
    pub async fn encode(&self, flush: Items, runtime: &tokio::runtime::Handle) -> Encoded {
        let Ok(permit) = self.free.acquire().await else {
            unreachable!("the semaphore is never closed");
        };
        permit.forget();
        let Some(mut taken) = self.idle.lock().unwrap_or_else(|e| e.into_inner()).pop() else {
            unreachable!("a permit is an idle encoder");
        };
        let done = runtime
            .spawn_blocking(move || {
                let result = catch_unwind(AssertUnwindSafe(|| taken.prepare(flush)));
                (taken, result)
            })
            .await;
        match done {
            Ok((taken, result)) => {
                self.idle.lock().unwrap_or_else(|e| e.into_inner()).push(taken);
                self.free.add_permits(1);
                match result {
                    Ok(Ok(write)) => Encoded::Ready(write),
                    Ok(Err(e)) => Encoded::Failed(e),
                    Err(_) => Encoded::Panicked,
                }
            }
            // The runtime is shutting down (the process ends): the encoder is gone with it.
            Err(_) => Encoded::Panicked,
        }
    }
}
