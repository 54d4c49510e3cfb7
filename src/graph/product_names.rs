//! Product names of Microsoft SKUs. Graph's `subscribedSkus` carries only part numbers
//! (`SPE_E3`); Microsoft publishes which product each is ("Microsoft 365 E3") in "Product names
//! and service plan identifiers for licensing". `product_names.tsv` is that table's first three
//! columns (part number, SKU id, product name; its first line says which edition), shipped as
//! data: regenerate it from the page when Microsoft adds products.

use std::collections::HashMap;
use std::sync::LazyLock;

static TABLE: &str = include_str!("product_names.tsv");

/// Part number → (SKU id, product name), read once from the shipped table.
static NAMES: LazyLock<HashMap<&'static str, (&'static str, &'static str)>> = LazyLock::new(|| {
    TABLE
        .lines()
        .filter(|line| !line.starts_with('#'))
        .skip(1)
        .filter_map(|line| {
            let mut cells = line.split('\t');
            let part_number = cells.next()?;
            let sku_id = cells.next()?;
            let name = cells.next()?;
            Some((part_number, (sku_id, name)))
        })
        .collect()
});

/// The product name Microsoft publishes for `part_number`, if the shipped table has it.
pub fn product_name(part_number: &str) -> Option<&'static str> {
    NAMES.get(part_number).map(|(_, name)| *name)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn common_part_numbers_have_their_product_names() {
        assert_eq!(product_name("SPE_E3"), Some("Microsoft 365 E3"));
        assert_eq!(product_name("ENTERPRISEPACK"), Some("Office 365 E3"));
        assert_eq!(product_name("POWER_BI_PRO"), Some("Power BI Pro"));
        assert_eq!(product_name("NOT_A_SKU"), None);
        assert!(NAMES.len() > 600, "{} names", NAMES.len());
    }

    #[test]
    fn every_line_is_a_part_number_a_sku_id_and_a_name() {
        for line in TABLE.lines().skip(2) {
            let cells: Vec<&str> = line.split('\t').collect();
            assert_eq!(cells.len(), 3, "{line:?}");
            assert!(uuid::Uuid::parse_str(cells[1]).is_ok(), "{line:?}");
            assert!(!cells[0].is_empty() && !cells[2].is_empty(), "{line:?}");
        }
    }

    #[test]
    fn the_emulators_skus_have_the_ids_microsoft_publishes() {
        // The emulator's SKUs carry the ids Microsoft publishes: the table agrees with them.
        for sku in graph_emulator::directory::SKU_TEMPLATES {
            let (sku_id, _) = NAMES[sku.part_number];
            assert_eq!(
                sku_id,
                uuid::Uuid::from_u128(sku.sku_id).to_string(),
                "{}",
                sku.part_number
            );
        }
    }
}
