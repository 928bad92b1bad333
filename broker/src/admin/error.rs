//! Admin API errors and their HTTP mapping: a status code plus a JSON body
//! `{"reason": "..."}`, as Pulsar's admin API answers.

use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Json;
use magnetar_metadata::MetadataError;

use super::openapi::ErrorBody;
use crate::managed_ledger::ManagedLedgerError;
use crate::namespace::{NamespaceError, TopicNameError};

#[derive(Debug, thiserror::Error)]
pub enum AdminError {
    #[error("{0}")]
    BadRequest(String),
    #[error("{0}")]
    NotFound(String),
    #[error("{0}")]
    Conflict(String),
    /// The resource is in a state that forbids the request (Pulsar's 412).
    #[error("{0}")]
    PreconditionFailed(String),
    /// The operation is not allowed on this kind of resource (Pulsar's 405).
    #[error("{0}")]
    MethodNotAllowed(String),
    #[error("{0}")]
    Unavailable(String),
    #[error("{0}")]
    Internal(String),
}

impl AdminError {
    pub fn status(&self) -> StatusCode {
        match self {
            AdminError::BadRequest(_) => StatusCode::BAD_REQUEST,
            AdminError::NotFound(_) => StatusCode::NOT_FOUND,
            AdminError::Conflict(_) => StatusCode::CONFLICT,
            AdminError::PreconditionFailed(_) => StatusCode::PRECONDITION_FAILED,
            AdminError::MethodNotAllowed(_) => StatusCode::METHOD_NOT_ALLOWED,
            AdminError::Unavailable(_) => StatusCode::SERVICE_UNAVAILABLE,
            AdminError::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }
}

impl IntoResponse for AdminError {
    fn into_response(self) -> Response {
        if self.status().is_server_error() {
            tracing::warn!(status = self.status().as_u16(), reason = %self, "admin request failed");
        }
        (
            self.status(),
            Json(ErrorBody {
                reason: self.to_string(),
            }),
        )
            .into_response()
    }
}

impl From<NamespaceError> for AdminError {
    fn from(error: NamespaceError) -> Self {
        let reason = error.to_string();
        match error {
            NamespaceError::InvalidName(_)
            | NamespaceError::InvalidBundles(_)
            | NamespaceError::InvalidPartitions(_)
            | NamespaceError::InvalidPolicy(_) => AdminError::BadRequest(reason),
            // A key the store refuses comes from a name in the request.
            NamespaceError::Metadata(MetadataError::InvalidKey { .. }) => {
                AdminError::BadRequest(reason)
            }
            NamespaceError::PolicyConflict(_) => AdminError::PreconditionFailed(reason),
            NamespaceError::TenantNotFound(_)
            | NamespaceError::NamespaceNotFound(_)
            | NamespaceError::ClusterNotFound(_)
            | NamespaceError::BundleNotFound(_)
            | NamespaceError::PartitionedTopicNotFound(_) => AdminError::NotFound(reason),
            NamespaceError::AlreadyExists(_)
            | NamespaceError::Conflict(_)
            | NamespaceError::NotEmpty(_) => AdminError::Conflict(reason),
            NamespaceError::SessionLost | NamespaceError::Metadata(_) => {
                AdminError::Unavailable(reason)
            }
            NamespaceError::Corrupt { .. } => AdminError::Internal(reason),
        }
    }
}

impl From<TopicNameError> for AdminError {
    fn from(error: TopicNameError) -> Self {
        AdminError::BadRequest(error.to_string())
    }
}

impl From<ManagedLedgerError> for AdminError {
    fn from(error: ManagedLedgerError) -> Self {
        let reason = error.to_string();
        match error {
            ManagedLedgerError::NoSuchManagedLedger(_)
            | ManagedLedgerError::NoSuchCursor(_)
            | ManagedLedgerError::NoSuchEntry(_) => AdminError::NotFound(reason),
            ManagedLedgerError::InvalidName { .. }
            | ManagedLedgerError::Metadata(MetadataError::InvalidKey { .. }) => {
                AdminError::BadRequest(reason)
            }
            ManagedLedgerError::Fenced { .. } | ManagedLedgerError::Closed { .. } => {
                AdminError::Conflict(reason)
            }
            ManagedLedgerError::Terminated { .. } => AdminError::PreconditionFailed(reason),
            ManagedLedgerError::Metadata(_)
            | ManagedLedgerError::Ledger(_)
            | ManagedLedgerError::WriteFailed { .. }
            | ManagedLedgerError::NotWritable { .. } => AdminError::Unavailable(reason),
            ManagedLedgerError::Corrupt { .. } => AdminError::Internal(reason),
        }
    }
}
