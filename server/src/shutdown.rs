//! Coordinated shutdown: one trigger, many listeners, and a way to wait
//! until they have all finished.
//!
//! Every long-running task (accept loop, HTTP connections, WebSocket
//! connections, sweeper) holds a [`ShutdownSignal`]. Triggering the
//! [`ShutdownController`] tells them all to stop; because each signal is a
//! receiver of the same watch channel, the controller can wait until every
//! signal has been dropped, i.e. until every task has ended.

use std::time::Duration;

use tokio::sync::watch;

/// Triggers shutdown and waits for tasks to finish.
pub struct ShutdownController {
    tx: watch::Sender<bool>,
}

/// Held by a task that must stop on shutdown. Clone one per task.
#[derive(Debug, Clone)]
pub struct ShutdownSignal {
    rx: watch::Receiver<bool>,
}

impl ShutdownController {
    /// A controller and the first signal.
    pub fn new() -> (Self, ShutdownSignal) {
        let (tx, rx) = watch::channel(false);
        (Self { tx }, ShutdownSignal { rx })
    }

    /// Tells every task to stop.
    pub fn trigger(&self) {
        self.tx.send_replace(true);
    }

    /// Waits until every signal has been dropped, at most `timeout`.
    /// Returns whether all tasks finished in time.
    pub async fn wait_for_tasks(&self, timeout: Duration) -> bool {
        tokio::time::timeout(timeout, self.tx.closed()).await.is_ok()
    }

    /// Signals still held (tasks still running).
    pub fn running(&self) -> usize {
        self.tx.receiver_count()
    }
}

impl ShutdownSignal {
    /// Resolves once shutdown has been triggered (or the controller is gone).
    pub async fn triggered(&mut self) {
        // An error means the controller was dropped, which also means stop.
        let _ = self.rx.wait_for(|stop| *stop).await;
    }

    /// Whether shutdown has been triggered.
    pub fn is_triggered(&self) -> bool {
        *self.rx.borrow()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn trigger_reaches_tasks_and_wait_sees_them_end() {
        let (controller, signal) = ShutdownController::new();
        let mut task_signal = signal.clone();
        drop(signal);
        let task = tokio::spawn(async move {
            task_signal.triggered().await;
        });
        assert!(!controller.wait_for_tasks(Duration::from_millis(10)).await);
        controller.trigger();
        assert!(controller.wait_for_tasks(Duration::from_secs(5)).await);
        task.await.unwrap();
        assert_eq!(controller.running(), 0);
    }
}
