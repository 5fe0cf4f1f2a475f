//! Pass `scan-to-lookup` (not yet implemented).
use super::{Context, Plan};
use crate::rego::ParsedModule;
pub struct ScanToLookup;
impl super::Pass for ScanToLookup {
    fn id(&self) -> &'static str { "scan-to-lookup" }
    fn describe(&self) -> &'static str { "" }
    fn plan(&self, _m: &ParsedModule, _cx: &Context) -> Plan { Plan::default() }
}
