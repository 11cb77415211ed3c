//! DPS enrollments: the default SAS group's derived keys, more SAS groups, individual SAS
//! enrollments and X.509 enrollment groups.

use base64::engine::general_purpose::STANDARD as B64;
use base64::Engine as _;

use crate::state::{SasGroup, X509Group, DEFAULT_SAS_GROUP};
use crate::{tls, Emulator, EmulatorError};

/// Enrollments (DPS).
impl Emulator {
    /// The device key (base64) derived from the group key for `registration_id`, as a device
    /// of the default SAS group would compute it.
    pub fn derive_device_key(&self, registration_id: &str) -> String {
        crate::sas::derive_device_key(&self.shared.settings.group_key, registration_id)
            .unwrap_or_default()
    }

    /// The device key (base64) a device of SAS enrollment group `group_id` derives from the
    /// group's primary key for `registration_id`; `None` for an unknown or X.509 group.
    pub fn derive_group_device_key(&self, group_id: &str, registration_id: &str) -> Option<String> {
        if group_id == DEFAULT_SAS_GROUP {
            return Some(self.derive_device_key(registration_id));
        }
        let key = self
            .shared
            .lock()
            .sas_groups
            .iter()
            .find(|g| g.id == group_id)
            .and_then(|g| g.keys.first().cloned())?;
        crate::sas::derive_device_key(&key, registration_id)
    }

    /// Adds (or replaces) a SAS enrollment group besides `SAS-IoT-Devices`, as IoT Central has
    /// many: a device whose registration token is signed with a key derived from
    /// `primary_key` or `secondary_key` (base64) provisions through this group.
    ///
    /// # Errors
    ///
    /// [`EmulatorError::InvalidConfig`] for an empty id, the default group's id, or a key that
    /// is not base64.
    pub fn add_sas_enrollment_group(
        &self,
        group_id: &str,
        primary_key: &str,
        secondary_key: Option<&str>,
    ) -> Result<(), EmulatorError> {
        if group_id.is_empty() || group_id == DEFAULT_SAS_GROUP {
            return Err(EmulatorError::InvalidConfig(format!(
                "invalid SAS enrollment group id {group_id:?}"
            )));
        }
        let mut keys = vec![primary_key.to_owned()];
        keys.extend(secondary_key.map(str::to_owned));
        if keys
            .iter()
            .any(|k| B64.decode(k).map(|b| b.is_empty()).unwrap_or(true))
        {
            return Err(EmulatorError::InvalidConfig(
                "enrollment group key is not valid base64".into(),
            ));
        }
        let mut state = self.shared.lock();
        state.x509_groups.retain(|g| g.id != group_id);
        state.sas_groups.retain(|g| g.id != group_id);
        state.sas_groups.push(SasGroup {
            id: group_id.to_owned(),
            keys,
        });
        Ok(())
    }

    /// Removes an enrollment group added with [`Emulator::add_sas_enrollment_group`] or
    /// [`Emulator::add_x509_enrollment_group`]; its devices stay registered. Returns whether
    /// there was one.
    pub fn remove_enrollment_group(&self, group_id: &str) -> bool {
        let mut state = self.shared.lock();
        let before = state.sas_groups.len() + state.x509_groups.len();
        state.sas_groups.retain(|g| g.id != group_id);
        state.x509_groups.retain(|g| g.id != group_id);
        before != state.sas_groups.len() + state.x509_groups.len()
    }

    /// Adds an X.509 enrollment group: devices presenting a TLS client certificate that chains
    /// to `ca_cert_pem` (one or more PEM certificates; an intermediate may be the anchor) and
    /// whose subject CN equals the registration id are accepted by DPS; the hub then accepts
    /// that device when it presents a certificate chaining to the same CA with CN = device id.
    ///
    /// # Errors
    ///
    /// [`EmulatorError::Certificate`] if the PEM holds no certificate,
    /// [`EmulatorError::InvalidConfig`] for an empty group id.
    pub fn add_x509_enrollment_group(
        &self,
        group_id: &str,
        ca_cert_pem: &str,
    ) -> Result<(), EmulatorError> {
        if group_id.is_empty() {
            return Err(EmulatorError::InvalidConfig("empty group id".into()));
        }
        let cas = tls::parse_pem_certs(ca_cert_pem)?;
        let mut state = self.shared.lock();
        state.x509_groups.retain(|g| g.id != group_id);
        state.sas_groups.retain(|g| g.id != group_id);
        state.x509_groups.push(X509Group {
            id: group_id.to_owned(),
            cas,
        });
        Ok(())
    }

    /// Adds (or replaces) an individual SAS enrollment: the registration id authenticates with
    /// its own key (base64). It wins over the group enrollment.
    ///
    /// # Errors
    ///
    /// [`EmulatorError::InvalidConfig`] if the key is not base64 or the id is empty.
    pub fn add_individual_enrollment(
        &self,
        registration_id: &str,
        key_base64: &str,
    ) -> Result<(), EmulatorError> {
        if registration_id.is_empty() || registration_id.contains('/') {
            return Err(EmulatorError::InvalidConfig(format!(
                "invalid registration id {registration_id:?}"
            )));
        }
        if B64.decode(key_base64).map(|b| b.is_empty()).unwrap_or(true) {
            return Err(EmulatorError::InvalidConfig(
                "enrollment key is not valid base64".into(),
            ));
        }
        self.shared
            .lock()
            .individual
            .insert(registration_id.to_owned(), key_base64.to_owned());
        Ok(())
    }
}
