//! File upload (protocol.md 6.4): the SAS URIs the hub hands out, the blob store that accepts
//! uploads to them, and the devices' completion notifications.

use std::collections::{BTreeMap, HashMap};
use std::time::{Duration, Instant};

use crate::error::HubError;
use crate::types::{FileUploadNotification, UploadedBlob};

/// The storage container uploads go to.
pub(crate) const CONTAINER: &str = "iotc-emulator";
/// Uploads one device may have under way (IoT hub's limit; `403006` beyond).
const MAX_CONCURRENT: usize = 10;
/// How long a SAS URI is valid (IoT Central's default is one hour).
const SAS_VALIDITY: Duration = Duration::from_secs(3600);
/// The Azure Storage version in the SAS.
const STORAGE_VERSION: &str = "2021-08-06";

/// An upload the hub has authorized and not yet seen the notification of.
#[derive(Debug)]
struct Pending {
    device_id: String,
    blob_name: String,
    signature: String,
    expires: Instant,
}

/// Uploads under way, stored blobs and notifications.
#[derive(Debug, Default)]
pub(crate) struct Files {
    pending: HashMap<String, Pending>,
    blobs: BTreeMap<String, UploadedBlob>,
    notifications: Vec<FileUploadNotification>,
}

/// What the hub answers to `POST /devices/{id}/files`.
#[derive(Debug)]
pub(crate) struct SasUri {
    pub(crate) correlation_id: String,
    pub(crate) blob_name: String,
    pub(crate) sas_token: String,
}

impl Files {
    /// Authorizes an upload of `name` by `device_id`.
    pub(crate) fn start(&mut self, device_id: &str, name: &str) -> Result<SasUri, HubError> {
        let name = name.trim_start_matches('/');
        if name.is_empty()
            || name.len() > 1024
            || name.split('/').any(|s| s == ".." || s.is_empty())
        {
            return Err(HubError::new(400, 400_004, "invalid blobName"));
        }
        let now = Instant::now();
        self.pending.retain(|_, p| p.expires > now);
        let under_way = self
            .pending
            .values()
            .filter(|p| p.device_id == device_id)
            .count();
        if under_way >= MAX_CONCURRENT {
            return Err(HubError::new(
                403,
                403_006,
                "the device has too many file uploads under way",
            ));
        }
        let correlation_id = crate::ids::random_uuid();
        let signature = crate::ids::random_hex(16);
        let blob_name = format!("{device_id}/{name}");
        let expiry = time::OffsetDateTime::now_utc() + SAS_VALIDITY;
        let se = crate::ids::service_time(expiry);
        let sas_token = format!(
            "?sv={STORAGE_VERSION}&sr=b&sig={signature}&se={}&sp=rw",
            crate::wire::encode(&se)
        );
        self.pending.insert(
            correlation_id.clone(),
            Pending {
                device_id: device_id.to_owned(),
                blob_name: blob_name.clone(),
                signature,
                expires: now + SAS_VALIDITY,
            },
        );
        Ok(SasUri {
            correlation_id,
            blob_name,
            sas_token,
        })
    }

    /// Stores a blob uploaded to `container`/`blob_name` with SAS signature `signature`.
    /// Errors with the storage status and code (`403 AuthenticationFailed`, `404
    /// ContainerNotFound`).
    pub(crate) fn put(
        &mut self,
        container: &str,
        blob_name: &str,
        signature: &str,
        content: Vec<u8>,
    ) -> Result<(), (u16, &'static str)> {
        if container != CONTAINER {
            return Err((404, "ContainerNotFound"));
        }
        let now = Instant::now();
        let pending = self
            .pending
            .values()
            .find(|p| p.blob_name == blob_name && p.signature == signature && p.expires > now)
            .ok_or((403, "AuthenticationFailed"))?;
        self.blobs.insert(
            blob_name.to_owned(),
            UploadedBlob {
                blob_name: blob_name.to_owned(),
                container_name: CONTAINER.to_owned(),
                device_id: pending.device_id.clone(),
                size: content.len(),
                content,
                uploaded_at: time::OffsetDateTime::now_utc(),
            },
        );
        Ok(())
    }

    /// Records the device's notification and ends the upload.
    pub(crate) fn notify(
        &mut self,
        device_id: &str,
        correlation_id: &str,
        is_success: bool,
        status_code: i64,
        status_description: String,
    ) -> Result<(), HubError> {
        let pending = match self.pending.get(correlation_id) {
            Some(p) if p.device_id == device_id => self.pending.remove(correlation_id),
            _ => None,
        }
        .ok_or_else(|| HubError::new(400, 400_004, "unknown correlationId"))?;
        if !is_success {
            self.blobs.remove(&pending.blob_name);
        }
        self.notifications.push(FileUploadNotification {
            device_id: device_id.to_owned(),
            correlation_id: correlation_id.to_owned(),
            blob_name: pending.blob_name,
            is_success,
            status_code,
            status_description,
        });
        Ok(())
    }

    /// Every stored blob, by name.
    pub(crate) fn blobs(&self) -> Vec<UploadedBlob> {
        self.blobs.values().cloned().collect()
    }

    /// The blob `name`, if stored.
    pub(crate) fn blob(&self, name: &str) -> Option<UploadedBlob> {
        self.blobs.get(name).cloned()
    }

    /// Every notification received, oldest first.
    pub(crate) fn notifications(&self) -> Vec<FileUploadNotification> {
        self.notifications.clone()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn signature(sas: &SasUri) -> String {
        let query = sas.sas_token.trim_start_matches('?');
        query
            .split('&')
            .find_map(|kv| kv.strip_prefix("sig="))
            .unwrap_or_default()
            .to_owned()
    }

    #[test]
    fn upload_flow() {
        let mut files = Files::default();
        let sas = files.start("dev", "logs/a.txt").unwrap();
        assert_eq!(sas.blob_name, "dev/logs/a.txt");
        let sig = signature(&sas);
        assert_eq!(
            files.put(CONTAINER, "dev/logs/a.txt", "wrong", b"x".to_vec()),
            Err((403, "AuthenticationFailed"))
        );
        assert_eq!(
            files.put("other", "dev/logs/a.txt", &sig, b"x".to_vec()),
            Err((404, "ContainerNotFound"))
        );
        files
            .put(CONTAINER, "dev/logs/a.txt", &sig, b"hello".to_vec())
            .unwrap();
        assert!(files
            .notify("other", &sas.correlation_id, true, 200, String::new())
            .is_err());
        files
            .notify("dev", &sas.correlation_id, true, 200, "ok".into())
            .unwrap();
        assert_eq!(files.blobs()[0].content, b"hello");
        assert_eq!(files.notifications()[0].blob_name, "dev/logs/a.txt");
        // The SAS URI is spent once the notification arrived.
        assert!(files
            .put(CONTAINER, "dev/logs/a.txt", &sig, vec![])
            .is_err());
        assert!(files.start("dev", "../x").is_err());
    }

    #[test]
    fn at_most_ten_uploads_per_device() {
        let mut files = Files::default();
        for i in 0..10 {
            files.start("dev", &format!("f{i}")).unwrap();
        }
        assert_eq!(files.start("dev", "f10").unwrap_err().code, 403_006);
        assert!(files.start("other", "f").is_ok());
    }
}
