//! Subscribed SKUs (licences the tenant bought) and their service plans.

use std::sync::Arc;

use uuid::Uuid;

/// A service plan inside a SKU.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServicePlan {
    /// `servicePlanId`.
    pub id: Uuid,
    /// `servicePlanName`.
    pub name: &'static str,
}

/// One subscribed SKU (`subscribedSku` resource).
#[derive(Debug, Clone)]
pub struct Sku {
    /// `skuId`.
    pub sku_id: Uuid,
    /// `skuPartNumber`, e.g. `ENTERPRISEPACK`.
    pub part_number: Arc<str>,
    /// `prepaidUnits.enabled`.
    pub enabled_units: u32,
    /// `prepaidUnits.warning`.
    pub warning_units: u32,
    /// `consumedUnits`: users holding the SKU.
    pub consumed_units: u32,
    /// `servicePlans`.
    pub service_plans: Vec<ServicePlan>,
    /// `subscriptionIds`.
    pub subscription_ids: Vec<Uuid>,
}

impl Sku {
    /// Units still free to assign.
    pub fn available_units(&self) -> u32 {
        self.enabled_units.saturating_sub(self.consumed_units)
    }
}

/// A SKU the generator can offer: part number, Microsoft's published sku id, and its plans.
pub struct SkuTemplate {
    /// `skuPartNumber`.
    pub part_number: &'static str,
    /// `skuId` as Microsoft publishes it.
    pub sku_id: u128,
    /// Service plans (id, name).
    pub plans: &'static [(u128, &'static str)],
}

const EXCHANGE: (u128, &str) = (
    0xefb87545_963c_4e0d_99df_69c6916d9eb0,
    "EXCHANGE_S_ENTERPRISE",
);
const SHAREPOINT: (u128, &str) = (
    0x5dbe027f_2339_4123_9542_606e4d348a72,
    "SHAREPOINTENTERPRISE",
);
const TEAMS: (u128, &str) = (0x57ff2da0_773e_42df_b2af_ffb7a2317929, "TEAMS1");
const SKYPE: (u128, &str) = (0x0feaeb32_d00e_4d66_bd5a_43b5b83db82c, "MCOSTANDARD");
const AAD_P1: (u128, &str) = (0x41781fb2_bc02_4b7c_bd55_b576c07bb09d, "AAD_PREMIUM");
const INTUNE: (u128, &str) = (0xc1ec4a95_1f05_45b3_a911_aa3fa01094f5, "INTUNE_A");
const POWER_BI: (u128, &str) = (0x70d33638_9c74_4d01_bfd3_562de28bd4ba, "BI_AZURE_P2");
const FLOW: (u128, &str) = (0x50e68c76_46c6_4674_81f9_75456511b170, "FLOW_P2_VIRAL");
const VISIO: (u128, &str) = (
    0x663a804f_1c30_4ff0_9915_9db84f0d1cea,
    "VISIO_CLIENT_SUBSCRIPTION",
);

/// The SKUs every generated tenant subscribes to, most widely assigned first.
pub const SKU_TEMPLATES: [SkuTemplate; 6] = [
    SkuTemplate {
        part_number: "ENTERPRISEPACK",
        sku_id: 0x6fd2c87f_b296_42f0_b197_1e91e994b900,
        plans: &[EXCHANGE, SHAREPOINT, TEAMS, SKYPE],
    },
    SkuTemplate {
        part_number: "SPE_E5",
        sku_id: 0x06ebc4ee_1bb5_47dd_8120_11324bc54e06,
        plans: &[EXCHANGE, SHAREPOINT, TEAMS, SKYPE, AAD_P1, INTUNE, POWER_BI],
    },
    SkuTemplate {
        part_number: "EMS",
        sku_id: 0xefccb6f7_5641_4e0e_bd10_b4976e1bf68e,
        plans: &[AAD_P1, INTUNE],
    },
    SkuTemplate {
        part_number: "POWER_BI_PRO",
        sku_id: 0xf8a1db68_be16_40ed_86d5_cb42ce701560,
        plans: &[POWER_BI],
    },
    SkuTemplate {
        part_number: "FLOW_FREE",
        sku_id: 0xf30db892_07e9_47e9_837c_80727f46fd3d,
        plans: &[FLOW],
    },
    // Fully consumed: assigning it fails for want of units.
    SkuTemplate {
        part_number: "VISIOCLIENT",
        sku_id: 0xc5928f49_12ba_48f7_ada3_0d743a3601d5,
        plans: &[VISIO],
    },
];
