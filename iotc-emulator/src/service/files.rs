//! File uploads as the service side sees them: the stored blobs and the devices'
//! notifications.

use crate::Emulator;

/// File uploads.
impl Emulator {
    /// Every blob devices stored through file upload, by name.
    pub fn uploaded_files(&self) -> Vec<crate::UploadedBlob> {
        self.shared.lock().files.blobs()
    }

    /// The blob `blob_name` (`{deviceId}/{name}`), if a device stored it.
    pub fn uploaded_file(&self, blob_name: &str) -> Option<crate::UploadedBlob> {
        self.shared.lock().files.blob(blob_name)
    }

    /// Every file-upload notification devices sent, oldest first.
    pub fn file_upload_notifications(&self) -> Vec<crate::FileUploadNotification> {
        self.shared.lock().files.notifications()
    }
}
