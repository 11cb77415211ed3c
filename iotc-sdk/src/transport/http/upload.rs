//! File upload (protocol.md §6.4), over HTTPS whatever the device's transport: the hub hands
//! out a blob SAS URI, the device stores the file there (Azure Storage "Put Blob"), and tells
//! the hub how it went.

use azure_core::http::{Method, Url};
use serde::Deserialize;
use serde_json::json;
use tracing::{debug, info};

use super::hub::HubClient;
use super::{segment, HttpsClient, Timeouts};
use crate::auth::RequestToken;
use crate::transport::{parse_endpoint, HubConfig};
use crate::{Error, Result};

/// The Azure Storage REST version sent with the upload.
const STORAGE_VERSION: &str = "2021-08-06";

/// A file stored through IoT hub's file upload.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct UploadedFile {
    /// The blob's name in the container; the hub prefixes it with the device id
    /// (`{deviceId}/{name}`).
    pub blob_name: String,
    /// The storage container.
    pub container_name: String,
    /// The storage account host (`{account}.blob.core.windows.net`).
    pub host_name: String,
}

/// The hub's answer to `POST /devices/{id}/files`.
#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct SasUri {
    correlation_id: String,
    host_name: String,
    container_name: String,
    blob_name: String,
    sas_token: String,
}

/// Uploads `data` as `blob_name` through the hub of `config` (on its HTTPS port).
pub(crate) async fn upload(
    config: &HubConfig,
    blob_name: &str,
    data: Vec<u8>,
) -> Result<UploadedFile> {
    if blob_name.is_empty() || blob_name.len() > 1024 {
        return Err(Error::Config(
            "the blob name must be 1 to 1024 characters".into(),
        ));
    }
    let hub = HubClient::new(config, config.https_port)?;
    let response = hub
        .http()
        .send(
            Method::Post,
            &hub.path("/files", ""),
            vec![("content-type".to_owned(), "application/json".to_owned())],
            Some(serde_json::to_vec(&json!({ "blobName": blob_name }))?),
        )
        .await?;
    if response.status != 200 {
        return Err(response.error());
    }
    let sas: SasUri = serde_json::from_slice(&response.body)
        .map_err(|e| Error::Serialization(format!("unexpected file upload answer: {e}")))?;
    debug!(device_id = %hub.device_id(), blob = %sas.blob_name, "uploading a file");

    let stored = put_blob(config, &sas, data).await;
    let (success, status, description) = match &stored {
        Ok(()) => (true, 200, "uploaded".to_owned()),
        Err(Error::Rejected { status, message }) => (false, *status, message.clone()),
        Err(e) => (false, 500, e.to_string()),
    };
    let notification = json!({
        "correlationId": sas.correlation_id,
        "isSuccess": success,
        "statusCode": status,
        "statusDescription": description,
    });
    let response = hub
        .http()
        .send(
            Method::Post,
            &hub.path("/files/notifications", ""),
            vec![("content-type".to_owned(), "application/json".to_owned())],
            Some(serde_json::to_vec(&notification)?),
        )
        .await?;
    stored?;
    if !(200..=299).contains(&response.status) {
        return Err(response.error());
    }
    info!(device_id = %hub.device_id(), blob = %sas.blob_name, "file uploaded");
    Ok(UploadedFile {
        blob_name: sas.blob_name,
        container_name: sas.container_name,
        host_name: sas.host_name,
    })
}

/// `PUT https://{host}/{container}/{blob}{sas}` with the file as a block blob.
async fn put_blob(config: &HubConfig, sas: &SasUri, data: Vec<u8>) -> Result<()> {
    let (host, port) = parse_endpoint(&sas.host_name, 443)?;
    let blob_path: Vec<String> = sas.blob_name.split('/').map(segment).collect();
    let query = sas.sas_token.trim_start_matches('?');
    let host_part = if host.contains(':') {
        format!("[{host}]:{port}")
    } else {
        format!("{host}:{port}")
    };
    let url = Url::parse(&format!(
        "https://{host_part}/{}/{}?{query}",
        segment(&sas.container_name),
        blob_path.join("/")
    ))
    .map_err(|e| Error::Serialization(format!("invalid blob SAS URI from the hub: {e}")))?;
    // The SAS URI carries its own signature; the blob store sees no device credentials.
    let storage = HttpsClient::new(
        &host,
        port,
        &config.tls,
        None,
        RequestToken::None,
        Timeouts {
            connect: config.connect_timeout,
            request: config.operation_timeout,
        },
        config.proxy.as_ref(),
    )?;
    let headers = vec![
        ("x-ms-blob-type".to_owned(), "BlockBlob".to_owned()),
        ("x-ms-version".to_owned(), STORAGE_VERSION.to_owned()),
        (
            "content-type".to_owned(),
            "application/octet-stream".to_owned(),
        ),
    ];
    let response = storage
        .send_url(Method::Put, url, headers, Some(data))
        .await?;
    match response.status {
        200..=299 => Ok(()),
        _ => Err(response.error()),
    }
}
