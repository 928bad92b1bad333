//! The sending half of a client connection, shared by everything that talks
//! to that client: the connection's own replies, producers' receipt tasks
//! and subscription dispatchers.
//!
//! Frames go through an unbounded queue to the connection's writer task.
//! The queue is bounded in practice by the protocol: receipts by the
//! per-connection limit on pending publishes, messages by consumer permits.

use magnetar_proto::pulsar::api::BaseCommand;
use magnetar_proto::pulsar::Frame;
use tokio::sync::mpsc;

/// Cloneable handle for sending frames to one client connection.
#[derive(Debug, Clone)]
pub struct Outbound {
    cid: u64,
    frames: mpsc::UnboundedSender<Frame>,
}

impl Outbound {
    pub(crate) fn new(cid: u64, frames: mpsc::UnboundedSender<Frame>) -> Self {
        Self { cid, frames }
    }

    /// Connection id, for logs.
    pub fn cid(&self) -> u64 {
        self.cid
    }

    /// Queues a command; `false` when the connection is gone.
    pub fn send(&self, command: impl Into<BaseCommand>) -> bool {
        self.send_frame(Frame::Command(command.into()))
    }

    /// Queues a frame; `false` when the connection is gone.
    pub fn send_frame(&self, frame: Frame) -> bool {
        self.frames.send(frame).is_ok()
    }

    pub fn is_closed(&self) -> bool {
        self.frames.is_closed()
    }
}
