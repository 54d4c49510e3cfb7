//! The word lists the generator draws from: names with non-ASCII letters and apostrophes,
//! departments and titles, offices across countries.

/// Organisation names for successive tenants.
pub const ORGANISATIONS: [&str; 8] = [
    "Contoso",
    "Fabrikam",
    "Northwind Traders",
    "Tailspin Toys",
    "Woodgrove Bank",
    "Adatum",
    "Litware",
    "Wingtip Toys",
];

/// Given names, including non-ASCII ones.
pub const GIVEN_NAMES: [&str; 64] = [
    "Adele",
    "Alex",
    "Amélie",
    "Ana",
    "Anders",
    "Aoife",
    "Ben",
    "Björn",
    "Carlos",
    "Chloé",
    "Chidi",
    "Dóra",
    "Diego",
    "Elif",
    "Emma",
    "François",
    "Grady",
    "Hannah",
    "Hiroshi",
    "Ingrid",
    "Isabel",
    "Jan",
    "José",
    "Jürgen",
    "Kai",
    "Karin",
    "Lars",
    "Léa",
    "Liam",
    "Lucía",
    "Łukasz",
    "Maël",
    "Magnus",
    "Maria",
    "Mateus",
    "Mei",
    "Miriam",
    "Nikolai",
    "Noémie",
    "Olga",
    "Oskar",
    "Patrick",
    "Priya",
    "Rafael",
    "Raphaël",
    "Renée",
    "Rosa",
    "Sean",
    "Siobhán",
    "Søren",
    "Sofia",
    "Stefan",
    "Takumi",
    "Tomás",
    "Ursula",
    "Valentina",
    "Wiktor",
    "Xavier",
    "Yasmin",
    "Yusuf",
    "Zoë",
    "Zofia",
    "Ömer",
    "Þóra",
];

/// Surnames, including apostrophes and non-ASCII letters.
pub const SURNAMES: [&str; 64] = [
    "Archie",
    "Bauer",
    "Brennan",
    "Byrne",
    "Castro",
    "Costa",
    "D'Angelo",
    "D'Souza",
    "Dubois",
    "Eriksson",
    "Fernández",
    "Fischer",
    "Ferreira",
    "García",
    "Gonçalves",
    "Hansen",
    "Hoffmann",
    "Ito",
    "Jensen",
    "Johansson",
    "Kowalski",
    "Kovačević",
    "Lefèvre",
    "López",
    "MacDonald",
    "Martin",
    "Mendoza",
    "Møller",
    "Müller",
    "Nakamura",
    "Nguyen",
    "Nowak",
    "O'Brien",
    "O'Connor",
    "O'Neill",
    "Okafor",
    "Olsen",
    "Ortega",
    "Patel",
    "Petrov",
    "Pérez",
    "Quinn",
    "Rossi",
    "Sánchez",
    "Schmidt",
    "Schäfer",
    "Silva",
    "Smith",
    "Suzuki",
    "Szabó",
    "Taylor",
    "Tanaka",
    "Vance",
    "Wagner",
    "Walsh",
    "Weiß",
    "Wiśniewski",
    "Williams",
    "Wójcik",
    "Yılmaz",
    "Zhang",
    "Ó Súilleabháin",
    "Çelik",
    "Åberg",
];

/// Departments, with the job titles found in each (the first is the head's title).
pub const DEPARTMENTS: [(&str, [&str; 4]); 12] = [
    (
        "Sales",
        [
            "Head of Sales",
            "Account Executive",
            "Sales Representative",
            "Sales Analyst",
        ],
    ),
    (
        "Marketing",
        [
            "Marketing Director",
            "Marketing Manager",
            "Content Designer",
            "Brand Specialist",
        ],
    ),
    (
        "Finance",
        [
            "Chief Financial Officer",
            "Financial Controller",
            "Accountant",
            "Payroll Officer",
        ],
    ),
    (
        "Human Resources",
        [
            "HR Director",
            "HR Business Partner",
            "Recruiter",
            "HR Administrator",
        ],
    ),
    (
        "IT",
        [
            "Head of IT",
            "Service Desk Analyst",
            "Systems Engineer",
            "Network Engineer",
        ],
    ),
    (
        "Engineering",
        [
            "VP Engineering",
            "Software Engineer",
            "Senior Software Engineer",
            "QA Engineer",
        ],
    ),
    (
        "Operations",
        [
            "Operations Director",
            "Operations Manager",
            "Logistics Coordinator",
            "Planner",
        ],
    ),
    (
        "Legal",
        [
            "General Counsel",
            "Solicitor",
            "Paralegal",
            "Compliance Officer",
        ],
    ),
    (
        "Customer Service",
        [
            "Head of Customer Service",
            "Customer Service Agent",
            "Team Lead",
            "Quality Analyst",
        ],
    ),
    (
        "Research & Development",
        [
            "Head of R&D",
            "Research Scientist",
            "Lab Technician",
            "Product Researcher",
        ],
    ),
    (
        "Procurement",
        [
            "Procurement Manager",
            "Buyer",
            "Category Manager",
            "Supplier Analyst",
        ],
    ),
    (
        "Facilities",
        [
            "Facilities Manager",
            "Receptionist",
            "Maintenance Technician",
            "Office Coordinator",
        ],
    ),
];

/// An office: city, state, country (ISO 3166 alpha-2, as usage location too), street, postal
/// code, phone prefix, preferred language.
pub struct Office {
    /// `city`
    pub city: &'static str,
    /// `state`
    pub state: &'static str,
    /// `country` and `usageLocation`
    pub country: &'static str,
    /// `streetAddress`
    pub street: &'static str,
    /// `postalCode`
    pub postal_code: &'static str,
    /// Prefix of phone numbers.
    pub phone: &'static str,
    /// `preferredLanguage`
    pub language: &'static str,
}

const fn office(
    city: &'static str,
    state: &'static str,
    country: &'static str,
    street: &'static str,
    postal_code: &'static str,
    phone: &'static str,
    language: &'static str,
) -> Office {
    Office {
        city,
        state,
        country,
        street,
        postal_code,
        phone,
        language,
    }
}

/// Offices; the first ones hold most people.
pub const OFFICES: [Office; 15] = [
    office(
        "London",
        "England",
        "GB",
        "1 Canada Square",
        "E14 5AB",
        "+44 20 7946 0",
        "en-GB",
    ),
    office(
        "New York",
        "NY",
        "US",
        "350 Fifth Avenue",
        "10118",
        "+1 212 555 0",
        "en-US",
    ),
    office(
        "München",
        "Bayern",
        "DE",
        "Leopoldstraße 12",
        "80802",
        "+49 89 5550 ",
        "de-DE",
    ),
    office(
        "Paris",
        "Île-de-France",
        "FR",
        "12 Rue de la Paix",
        "75002",
        "+33 1 5555 ",
        "fr-FR",
    ),
    office(
        "Manchester",
        "England",
        "GB",
        "3 Hardman Street",
        "M3 3HF",
        "+44 161 496 0",
        "en-GB",
    ),
    office(
        "Dublin",
        "Leinster",
        "IE",
        "1 Grand Canal Square",
        "D02 P820",
        "+353 1 555 ",
        "en-IE",
    ),
    office(
        "Seattle",
        "WA",
        "US",
        "400 Broad Street",
        "98109",
        "+1 206 555 0",
        "en-US",
    ),
    office(
        "Zürich",
        "Zürich",
        "CH",
        "Bahnhofstrasse 45",
        "8001",
        "+41 44 555 ",
        "de-CH",
    ),
    office(
        "Amsterdam",
        "Noord-Holland",
        "NL",
        "Herengracht 182",
        "1016 BR",
        "+31 20 555 ",
        "nl-NL",
    ),
    office(
        "Madrid",
        "Comunidad de Madrid",
        "ES",
        "Calle de Alcalá 21",
        "28014",
        "+34 91 555 ",
        "es-ES",
    ),
    office(
        "Kraków",
        "Małopolskie",
        "PL",
        "ul. Floriańska 3",
        "31-019",
        "+48 12 555 ",
        "pl-PL",
    ),
    office(
        "São Paulo",
        "SP",
        "BR",
        "Avenida Paulista 1000",
        "01310-100",
        "+55 11 5555 ",
        "pt-BR",
    ),
    office(
        "Edinburgh",
        "Scotland",
        "GB",
        "10 George Street",
        "EH2 2PF",
        "+44 131 496 0",
        "en-GB",
    ),
    office(
        "Tokyo",
        "Tokyo",
        "JP",
        "1-1 Marunouchi",
        "100-0005",
        "+81 3 5555 ",
        "ja-JP",
    ),
    office(
        "Sydney",
        "NSW",
        "AU",
        "1 Macquarie Place",
        "2000",
        "+61 2 5550 ",
        "en-AU",
    ),
];

/// Mail domains of guests.
pub const GUEST_DOMAINS: [&str; 5] = [
    "gmail.com",
    "outlook.com",
    "partner.example",
    "fabrikam.example",
    "consulting.example",
];

/// Words for generated project groups.
pub const PROJECT_ADJECTIVES: [&str; 16] = [
    "Aurora",
    "Blue",
    "Bright",
    "Copper",
    "Crimson",
    "Falcon",
    "Granite",
    "Harbour",
    "Indigo",
    "Juniper",
    "Lighthouse",
    "Maple",
    "Northern",
    "Orbit",
    "Silver",
    "Summit",
];

/// Words for generated project groups.
pub const PROJECT_NOUNS: [&str; 12] = [
    "Migration",
    "Rollout",
    "Taskforce",
    "Programme",
    "Review",
    "Pilot",
    "Squad",
    "Initiative",
    "Guild",
    "Working Group",
    "Steering",
    "Launch",
];

/// Suppliers that appear as organisational contacts in distribution lists.
pub const CONTACT_ORGANISATIONS: [&str; 8] = [
    "Acme Supplies",
    "Globex",
    "Initech",
    "Umbrella Facilities",
    "Stark Logistics",
    "Wayne Security",
    "Hooli Cloud",
    "Vandelay Imports",
];

/// Folds a name into the ASCII a mailbox local part uses (`Łukasz` → `lukasz`); apostrophes
/// stay, spaces go.
pub fn ascii_fold(name: &str) -> String {
    let mut out = String::with_capacity(name.len());
    for c in name.chars().flat_map(char::to_lowercase) {
        let folded: &str = match c {
            'a'..='z' | '0'..='9' | '\'' | '-' => {
                out.push(c);
                continue;
            }
            'à' | 'á' | 'â' | 'ã' | 'ä' | 'å' | 'ą' | 'ă' => "a",
            'æ' => "ae",
            'ç' | 'ć' | 'č' => "c",
            'è' | 'é' | 'ê' | 'ë' | 'ę' | 'ě' => "e",
            'ì' | 'í' | 'î' | 'ï' | 'ı' => "i",
            'ł' => "l",
            'ñ' | 'ń' => "n",
            'ò' | 'ó' | 'ô' | 'õ' | 'ö' | 'ø' | 'ő' => "o",
            'œ' => "oe",
            'ś' | 'š' | 'ş' => "s",
            'ß' => "ss",
            'ù' | 'ú' | 'û' | 'ü' | 'ů' | 'ű' => "u",
            'ý' | 'ÿ' => "y",
            'ź' | 'ż' | 'ž' => "z",
            'ð' | 'đ' => "d",
            'þ' => "th",
            'ğ' => "g",
            'ř' => "r",
            _ => "",
        };
        out.push_str(folded);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn folding_keeps_apostrophes_and_drops_accents_and_spaces() {
        assert_eq!(ascii_fold("Łukasz"), "lukasz");
        assert_eq!(ascii_fold("O'Brien"), "o'brien");
        assert_eq!(ascii_fold("Ó Súilleabháin"), "osuilleabhain");
        assert_eq!(ascii_fold("Weiß"), "weiss");
        assert_eq!(ascii_fold("Þóra"), "thora");
    }
}
