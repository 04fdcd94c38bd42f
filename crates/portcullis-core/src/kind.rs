//! `PromotionKind`: what a promotion row asks the copier to do. A `promotion` copies the
//! image from its source; a `rollback` only points a route's channel tag back at a digest
//! the gate promoted before, which is already in production.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

use crate::{Error, Result};

/// The kind of a promotion, as stored, shown, signed and given to the policy
/// (`input.request.kind`).
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Serialize, Deserialize, utoipa::ToSchema,
)]
#[serde(rename_all = "snake_case")]
pub enum PromotionKind {
    /// A copy from the source registry to production.
    #[default]
    Promotion,
    /// A channel tag moved back to a digest already promoted on the route: a tag write.
    Rollback,
}

impl PromotionKind {
    /// Every kind.
    pub const ALL: [Self; 2] = [Self::Promotion, Self::Rollback];

    /// The wire name.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Promotion => "promotion",
            Self::Rollback => "rollback",
        }
    }
}

impl FromStr for PromotionKind {
    type Err = Error;
    fn from_str(s: &str) -> Result<Self> {
        Self::ALL
            .into_iter()
            .find(|k| k.as_str() == s)
            .ok_or_else(|| Error::InvalidEnum {
                kind: "promotion kind",
                value: s.to_owned(),
            })
    }
}

impl fmt::Display for PromotionKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kinds_round_trip_and_match_serde() {
        for k in PromotionKind::ALL {
            assert_eq!(k.as_str().parse::<PromotionKind>(), Ok(k));
            assert_eq!(
                serde_json::to_value(k).ok(),
                Some(serde_json::Value::String(k.as_str().to_owned()))
            );
        }
        assert!("break_glass".parse::<PromotionKind>().is_err());
        assert_eq!(PromotionKind::default(), PromotionKind::Promotion);
    }
}
