//! The keyless trust in use, swappable by a reload.

use std::sync::{Arc, RwLock};

use super::KeylessTrust;

/// The keyless trust in use, which a reload (SIGHUP) can replace while verifications run:
/// each verification works on the snapshot it started with.
#[derive(Debug, Clone)]
pub struct KeylessHandle(Arc<RwLock<Arc<KeylessTrust>>>);

impl KeylessHandle {
    /// The trust verifications use now.
    pub fn current(&self) -> Arc<KeylessTrust> {
        match self.0.read() {
            Ok(guard) => guard.clone(),
            // A writer panicked mid-swap; the value is still a whole Arc.
            Err(poisoned) => poisoned.into_inner().clone(),
        }
    }

    /// Replaces the trust for every later verification.
    pub fn replace(&self, trust: KeylessTrust) {
        let trust = Arc::new(trust);
        match self.0.write() {
            Ok(mut guard) => *guard = trust,
            Err(poisoned) => *poisoned.into_inner() = trust,
        }
    }
}

impl From<KeylessTrust> for KeylessHandle {
    fn from(trust: KeylessTrust) -> Self {
        Self(Arc::new(RwLock::new(Arc::new(trust))))
    }
}
