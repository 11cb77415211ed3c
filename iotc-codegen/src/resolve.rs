//! Reading the input files and resolving Components and `extends` by DTMI in a repository
//! laid out like the Device Models Repository (`dtmi:com:example:Thermostat;1` is
//! `dtmi/com/example/thermostat-1.json`).

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use iotc_sdk::model::{ContentInfo, InterfaceInfo};

use crate::Error;

/// The repository path of a DTMI.
pub fn dmr_path(id: &str) -> PathBuf {
    PathBuf::from(format!(
        "{}.json",
        id.to_lowercase().replace(':', "/").replace(';', "-")
    ))
}

fn read(path: &Path) -> Result<Vec<InterfaceInfo>, Error> {
    let text = std::fs::read_to_string(path).map_err(|source| Error::Read {
        path: path.to_owned(),
        source,
    })?;
    InterfaceInfo::from_json(&text).map_err(|source| Error::Parse {
        path: path.to_owned(),
        source,
    })
}

/// Every interface of `files`, then every interface they reference (transitively), each DTMI
/// once, in DTMI order.
pub(crate) fn resolve(
    files: &[PathBuf],
    repository: Option<&Path>,
) -> Result<BTreeMap<String, InterfaceInfo>, Error> {
    let mut all = BTreeMap::new();
    let mut pending = Vec::new();
    for file in files {
        for interface in read(file)? {
            pending.extend(references(&interface));
            all.entry(interface.id.clone()).or_insert(interface);
        }
    }
    while let Some((id, from)) = pending.pop() {
        if all.contains_key(&id) {
            continue;
        }
        let Some(repository) = repository else {
            return Err(Error::Unresolved {
                id,
                from,
                path: None,
            });
        };
        let path = repository.join(dmr_path(&id));
        if !path.is_file() {
            return Err(Error::Unresolved {
                id,
                from,
                path: Some(path),
            });
        }
        let mut found = false;
        for interface in read(&path)? {
            found |= interface.id == id;
            pending.extend(references(&interface));
            all.entry(interface.id.clone()).or_insert(interface);
        }
        if !found {
            return Err(Error::Unresolved {
                id,
                from,
                path: Some(path),
            });
        }
    }
    Ok(all)
}

/// The DTMIs an interface needs: its components' interfaces and those it extends.
fn references(interface: &InterfaceInfo) -> Vec<(String, String)> {
    let components = interface.contents.iter().filter_map(|c| match c {
        ContentInfo::Component(component) => Some(component.schema.clone()),
        _ => None,
    });
    interface
        .extends
        .iter()
        .cloned()
        .chain(components)
        .map(|id| (id, interface.id.clone()))
        .collect()
}
