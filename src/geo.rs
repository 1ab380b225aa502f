//! Country, currency and US/CA state tables for the normalisers.

/// ISO 3166-1 alpha-2 code (lowercase) for an alpha-2 code, alpha-3 code or English name.
pub fn country_code(value: &str) -> Option<&'static str> {
    // The usual input, two ASCII letters: one table look-up, no key to build.
    if let [a, b] = value.as_bytes() {
        if a.is_ascii_alphabetic() && b.is_ascii_alphabetic() {
            return match ALPHA2[alpha2_slot(a.to_ascii_lowercase(), b.to_ascii_lowercase())] {
                0 => None,
                row => Some(COUNTRIES[usize::from(row) - 1].0),
            };
        }
    }
    let key = ascii_key(value);
    match key.len() {
        2 => COUNTRIES.iter().find(|(a2, _, _)| *a2 == key).map(|r| r.0),
        3 => COUNTRIES
            .iter()
            .find(|(_, a3, _)| *a3 == key)
            .map(|r| r.0)
            .or_else(|| by_name(&key)),
        _ => by_name(&key),
    }
}

/// Lowercase ASCII letters only, with Latin accents folded (`Québec` → `quebec`).
fn ascii_key(value: &str) -> String {
    // Sized once: collecting a filter grows the string a step at a time.
    let mut key = String::with_capacity(value.len());
    key.extend(
        value
            .chars()
            .flat_map(char::to_lowercase)
            .map(|c| match c {
                'à' | 'á' | 'â' | 'ã' | 'ä' | 'å' => 'a',
                'ç' => 'c',
                'è' | 'é' | 'ê' | 'ë' => 'e',
                'ì' | 'í' | 'î' | 'ï' => 'i',
                'ñ' => 'n',
                'ò' | 'ó' | 'ô' | 'õ' | 'ö' | 'ø' => 'o',
                'ù' | 'ú' | 'û' | 'ü' => 'u',
                'ý' | 'ÿ' => 'y',
                other => other,
            })
            .filter(char::is_ascii_alphabetic),
    );
    key
}

fn by_name(key: &str) -> Option<&'static str> {
    COUNTRIES
        .iter()
        .find(|(_, _, names)| names.contains(&key))
        .map(|r| r.0)
}

/// Whether `code` (upper case) is an ISO 4217 currency code.
pub fn is_currency(code: &str) -> bool {
    match code.as_bytes() {
        // The usual input, three uppercase letters: one bit of a table.
        [a, b, c] if [a, b, c].iter().all(|x| x.is_ascii_uppercase()) => {
            let i = currency_slot(*a, *b, *c);
            CURRENCY_BITS[i / 64] & (1 << (i % 64)) != 0
        }
        _ => false,
    }
}

/// The place of a three-uppercase-letter code in [`CURRENCY_BITS`].
const fn currency_slot(a: u8, b: u8, c: u8) -> usize {
    ((a - b'A') as usize * 26 + (b - b'A') as usize) * 26 + (c - b'A') as usize
}

/// One bit per code `AAA`..`ZZZ`, set for those in [`CURRENCIES`].
static CURRENCY_BITS: [u64; 26 * 26 * 26 / 64 + 1] = {
    let mut bits = [0u64; 26 * 26 * 26 / 64 + 1];
    let mut i = 0;
    while i < CURRENCIES.len() {
        let code = CURRENCIES[i].as_bytes();
        let slot = currency_slot(code[0], code[1], code[2]);
        bits[slot / 64] |= 1 << (slot % 64);
        i += 1;
    }
    bits
};

/// The lowercase 2-letter code of a US state or Canadian province, from its code or full name.
pub fn state_code(country: &str, value: &str) -> Option<&'static str> {
    // The usual input, a 2-letter code: compared as is, no key to build.
    if let [a, b] = value.as_bytes() {
        if a.is_ascii_alphabetic() && b.is_ascii_alphabetic() {
            let code = [a.to_ascii_lowercase(), b.to_ascii_lowercase()];
            if let Some(row) = STATES
                .iter()
                .find(|(c, code2, _)| *c == country && code2.as_bytes() == code)
            {
                return Some(row.1);
            }
        }
    }
    let key = ascii_key(value);
    STATES
        .iter()
        .find(|(c, code, name)| *c == country && (*code == key || *name == key))
        .map(|r| r.1)
}

/// For each two-letter code `aa`..`zz` (26 × 26 slots), 1 + its row in [`COUNTRIES`], or 0:
/// the usual input is looked up by one index instead of a binary search.
static ALPHA2: [u16; 26 * 26] = alpha2_index();

/// The place of a two-lowercase-letter code in [`ALPHA2`].
const fn alpha2_slot(a: u8, b: u8) -> usize {
    (a - b'a') as usize * 26 + (b - b'a') as usize
}

const fn alpha2_index() -> [u16; 26 * 26] {
    let mut table = [0u16; 26 * 26];
    let mut row = 0;
    while row < COUNTRIES.len() {
        let code = COUNTRIES[row].0.as_bytes();
        table[alpha2_slot(code[0], code[1])] = row as u16 + 1;
        row += 1;
    }
    table
}

// Generated from ISO 3166-1 (pycountry data) with common English aliases. (alpha-2, alpha-3, name keys)
pub(crate) static COUNTRIES: &[(&str, &str, &[&str])] = &[
    ("ad", "and", &["andorra", "principalityofandorra"]),
    ("ae", "are", &["uae", "unitedarabemirates"]),
    (
        "af",
        "afg",
        &["afghanistan", "islamicrepublicofafghanistan"],
    ),
    ("ag", "atg", &["antiguaandbarbuda"]),
    ("ai", "aia", &["anguilla"]),
    ("al", "alb", &["albania", "republicofalbania"]),
    ("am", "arm", &["armenia", "republicofarmenia"]),
    ("ao", "ago", &["angola", "republicofangola"]),
    ("aq", "ata", &["antarctica"]),
    ("ar", "arg", &["argentina", "argentinerepublic"]),
    ("as", "asm", &["americansamoa"]),
    ("at", "aut", &["austria", "republicofaustria"]),
    ("au", "aus", &["australia"]),
    ("aw", "abw", &["aruba"]),
    ("ax", "ala", &["alandislands"]),
    ("az", "aze", &["azerbaijan", "republicofazerbaijan"]),
    (
        "ba",
        "bih",
        &["bosniaandherzegovina", "republicofbosniaandherzegovina"],
    ),
    ("bb", "brb", &["barbados"]),
    ("bd", "bgd", &["bangladesh", "peoplesrepublicofbangladesh"]),
    ("be", "bel", &["belgium", "kingdomofbelgium"]),
    ("bf", "bfa", &["burkinafaso"]),
    ("bg", "bgr", &["bulgaria", "republicofbulgaria"]),
    ("bh", "bhr", &["bahrain", "kingdomofbahrain"]),
    ("bi", "bdi", &["burundi", "republicofburundi"]),
    ("bj", "ben", &["benin", "republicofbenin"]),
    ("bl", "blm", &["saintbarthelemy"]),
    ("bm", "bmu", &["bermuda"]),
    ("bn", "brn", &["brunei", "bruneidarussalam"]),
    (
        "bo",
        "bol",
        &[
            "bolivia",
            "boliviaplurinationalstateof",
            "plurinationalstateofbolivia",
        ],
    ),
    ("bq", "bes", &["bonairesinteustatiusandsaba"]),
    ("br", "bra", &["brazil", "federativerepublicofbrazil"]),
    ("bs", "bhs", &["bahamas", "commonwealthofthebahamas"]),
    ("bt", "btn", &["bhutan", "kingdomofbhutan"]),
    ("bv", "bvt", &["bouvetisland"]),
    ("bw", "bwa", &["botswana", "republicofbotswana"]),
    ("by", "blr", &["belarus", "republicofbelarus"]),
    ("bz", "blz", &["belize"]),
    ("ca", "can", &["canada"]),
    ("cc", "cck", &["cocoskeelingislands"]),
    (
        "cd",
        "cod",
        &[
            "congothedemocraticrepublicofthe",
            "democraticrepublicofthecongo",
            "drc",
        ],
    ),
    ("cf", "caf", &["centralafricanrepublic"]),
    ("cg", "cog", &["congo", "republicofthecongo"]),
    ("ch", "che", &["swissconfederation", "switzerland"]),
    (
        "ci",
        "civ",
        &["cotedivoire", "ivorycoast", "republicofcotedivoire"],
    ),
    ("ck", "cok", &["cookislands"]),
    ("cl", "chl", &["chile", "republicofchile"]),
    ("cm", "cmr", &["cameroon", "republicofcameroon"]),
    ("cn", "chn", &["china", "peoplesrepublicofchina"]),
    ("co", "col", &["colombia", "republicofcolombia"]),
    ("cr", "cri", &["costarica", "republicofcostarica"]),
    ("cu", "cub", &["cuba", "republicofcuba"]),
    (
        "cv",
        "cpv",
        &["caboverde", "capeverde", "republicofcaboverde"],
    ),
    ("cw", "cuw", &["curacao"]),
    ("cx", "cxr", &["christmasisland"]),
    ("cy", "cyp", &["cyprus", "republicofcyprus"]),
    ("cz", "cze", &["czechia", "czechrepublic"]),
    ("de", "deu", &["federalrepublicofgermany", "germany"]),
    ("dj", "dji", &["djibouti", "republicofdjibouti"]),
    ("dk", "dnk", &["denmark", "kingdomofdenmark"]),
    ("dm", "dma", &["commonwealthofdominica", "dominica"]),
    ("do", "dom", &["dominicanrepublic"]),
    (
        "dz",
        "dza",
        &["algeria", "peoplesdemocraticrepublicofalgeria"],
    ),
    ("ec", "ecu", &["ecuador", "republicofecuador"]),
    ("ee", "est", &["estonia", "republicofestonia"]),
    ("eg", "egy", &["arabrepublicofegypt", "egypt"]),
    ("eh", "esh", &["westernsahara"]),
    ("er", "eri", &["eritrea", "thestateoferitrea"]),
    ("es", "esp", &["kingdomofspain", "spain"]),
    (
        "et",
        "eth",
        &["ethiopia", "federaldemocraticrepublicofethiopia"],
    ),
    ("fi", "fin", &["finland", "republicoffinland"]),
    ("fj", "fji", &["fiji", "republicoffiji"]),
    ("fk", "flk", &["falklandislandsmalvinas"]),
    (
        "fm",
        "fsm",
        &[
            "federatedstatesofmicronesia",
            "micronesia",
            "micronesiafederatedstatesof",
        ],
    ),
    ("fo", "fro", &["faroeislands"]),
    ("fr", "fra", &["france", "frenchrepublic"]),
    ("ga", "gab", &["gabon", "gaboneserepublic"]),
    (
        "gb",
        "gbr",
        &[
            "england",
            "greatbritain",
            "northernireland",
            "scotland",
            "uk",
            "unitedkingdom",
            "unitedkingdomofgreatbritainandnorthernireland",
            "wales",
        ],
    ),
    ("gd", "grd", &["grenada"]),
    ("ge", "geo", &["georgia"]),
    ("gf", "guf", &["frenchguiana"]),
    ("gg", "ggy", &["guernsey"]),
    ("gh", "gha", &["ghana", "republicofghana"]),
    ("gi", "gib", &["gibraltar"]),
    ("gl", "grl", &["greenland"]),
    ("gm", "gmb", &["gambia", "republicofthegambia"]),
    ("gn", "gin", &["guinea", "republicofguinea"]),
    ("gp", "glp", &["guadeloupe"]),
    (
        "gq",
        "gnq",
        &["equatorialguinea", "republicofequatorialguinea"],
    ),
    ("gr", "grc", &["greece", "hellenicrepublic"]),
    ("gs", "sgs", &["southgeorgiaandthesouthsandwichislands"]),
    ("gt", "gtm", &["guatemala", "republicofguatemala"]),
    ("gu", "gum", &["guam"]),
    ("gw", "gnb", &["guineabissau", "republicofguineabissau"]),
    ("gy", "guy", &["guyana", "republicofguyana"]),
    (
        "hk",
        "hkg",
        &["hongkong", "hongkongspecialadministrativeregionofchina"],
    ),
    ("hm", "hmd", &["heardislandandmcdonaldislands"]),
    ("hn", "hnd", &["honduras", "republicofhonduras"]),
    ("hr", "hrv", &["croatia", "republicofcroatia"]),
    ("ht", "hti", &["haiti", "republicofhaiti"]),
    ("hu", "hun", &["hungary"]),
    ("id", "idn", &["indonesia", "republicofindonesia"]),
    ("ie", "irl", &["ireland"]),
    ("il", "isr", &["israel", "stateofisrael"]),
    ("im", "imn", &["isleofman"]),
    ("in", "ind", &["india", "republicofindia"]),
    ("io", "iot", &["britishindianoceanterritory"]),
    ("iq", "irq", &["iraq", "republicofiraq"]),
    (
        "ir",
        "irn",
        &["iran", "iranislamicrepublicof", "islamicrepublicofiran"],
    ),
    ("is", "isl", &["iceland", "republicoficeland"]),
    ("it", "ita", &["italianrepublic", "italy"]),
    ("je", "jey", &["jersey"]),
    ("jm", "jam", &["jamaica"]),
    ("jo", "jor", &["hashemitekingdomofjordan", "jordan"]),
    ("jp", "jpn", &["japan"]),
    ("ke", "ken", &["kenya", "republicofkenya"]),
    ("kg", "kgz", &["kyrgyzrepublic", "kyrgyzstan"]),
    ("kh", "khm", &["cambodia", "kingdomofcambodia"]),
    ("ki", "kir", &["kiribati", "republicofkiribati"]),
    ("km", "com", &["comoros", "unionofthecomoros"]),
    ("kn", "kna", &["saintkittsandnevis"]),
    (
        "kp",
        "prk",
        &[
            "democraticpeoplesrepublicofkorea",
            "koreademocraticpeoplesrepublicof",
            "northkorea",
        ],
    ),
    ("kr", "kor", &["korea", "korearepublicof", "southkorea"]),
    ("kw", "kwt", &["kuwait", "stateofkuwait"]),
    ("ky", "cym", &["caymanislands"]),
    ("kz", "kaz", &["kazakhstan", "republicofkazakhstan"]),
    ("la", "lao", &["laopeoplesdemocraticrepublic", "laos"]),
    ("lb", "lbn", &["lebaneserepublic", "lebanon"]),
    ("lc", "lca", &["saintlucia"]),
    (
        "li",
        "lie",
        &["liechtenstein", "principalityofliechtenstein"],
    ),
    (
        "lk",
        "lka",
        &["democraticsocialistrepublicofsrilanka", "srilanka"],
    ),
    ("lr", "lbr", &["liberia", "republicofliberia"]),
    ("ls", "lso", &["kingdomoflesotho", "lesotho"]),
    ("lt", "ltu", &["lithuania", "republicoflithuania"]),
    ("lu", "lux", &["grandduchyofluxembourg", "luxembourg"]),
    ("lv", "lva", &["latvia", "republicoflatvia"]),
    ("ly", "lby", &["libya"]),
    ("ma", "mar", &["kingdomofmorocco", "morocco"]),
    ("mc", "mco", &["monaco", "principalityofmonaco"]),
    (
        "md",
        "mda",
        &["moldova", "moldovarepublicof", "republicofmoldova"],
    ),
    ("me", "mne", &["montenegro"]),
    ("mf", "maf", &["saintmartinfrenchpart"]),
    ("mg", "mdg", &["madagascar", "republicofmadagascar"]),
    (
        "mh",
        "mhl",
        &["marshallislands", "republicofthemarshallislands"],
    ),
    (
        "mk",
        "mkd",
        &["macedonia", "northmacedonia", "republicofnorthmacedonia"],
    ),
    ("ml", "mli", &["mali", "republicofmali"]),
    ("mm", "mmr", &["myanmar", "republicofmyanmar"]),
    ("mn", "mng", &["mongolia"]),
    (
        "mo",
        "mac",
        &["macao", "macaospecialadministrativeregionofchina"],
    ),
    (
        "mp",
        "mnp",
        &[
            "commonwealthofthenorthernmarianaislands",
            "northernmarianaislands",
        ],
    ),
    ("mq", "mtq", &["martinique"]),
    ("mr", "mrt", &["islamicrepublicofmauritania", "mauritania"]),
    ("ms", "msr", &["montserrat"]),
    ("mt", "mlt", &["malta", "republicofmalta"]),
    ("mu", "mus", &["mauritius", "republicofmauritius"]),
    ("mv", "mdv", &["maldives", "republicofmaldives"]),
    ("mw", "mwi", &["malawi", "republicofmalawi"]),
    ("mx", "mex", &["mexico", "unitedmexicanstates"]),
    ("my", "mys", &["malaysia"]),
    ("mz", "moz", &["mozambique", "republicofmozambique"]),
    ("na", "nam", &["namibia", "republicofnamibia"]),
    ("nc", "ncl", &["newcaledonia"]),
    ("ne", "ner", &["niger", "republicoftheniger"]),
    ("nf", "nfk", &["norfolkisland"]),
    ("ng", "nga", &["federalrepublicofnigeria", "nigeria"]),
    ("ni", "nic", &["nicaragua", "republicofnicaragua"]),
    (
        "nl",
        "nld",
        &[
            "holland",
            "kingdomofthenetherlands",
            "netherlands",
            "thenetherlands",
        ],
    ),
    ("no", "nor", &["kingdomofnorway", "norway"]),
    ("np", "npl", &["federaldemocraticrepublicofnepal", "nepal"]),
    ("nr", "nru", &["nauru", "republicofnauru"]),
    ("nu", "niu", &["niue"]),
    ("nz", "nzl", &["newzealand"]),
    ("om", "omn", &["oman", "sultanateofoman"]),
    ("pa", "pan", &["panama", "republicofpanama"]),
    ("pe", "per", &["peru", "republicofperu"]),
    ("pf", "pyf", &["frenchpolynesia"]),
    (
        "pg",
        "png",
        &["independentstateofpapuanewguinea", "papuanewguinea"],
    ),
    ("ph", "phl", &["philippines", "republicofthephilippines"]),
    ("pk", "pak", &["islamicrepublicofpakistan", "pakistan"]),
    ("pl", "pol", &["poland", "republicofpoland"]),
    ("pm", "spm", &["saintpierreandmiquelon"]),
    ("pn", "pcn", &["pitcairn"]),
    ("pr", "pri", &["puertorico"]),
    (
        "ps",
        "pse",
        &["palestine", "palestinestateof", "thestateofpalestine"],
    ),
    ("pt", "prt", &["portugal", "portugueserepublic"]),
    ("pw", "plw", &["palau", "republicofpalau"]),
    ("py", "pry", &["paraguay", "republicofparaguay"]),
    ("qa", "qat", &["qatar", "stateofqatar"]),
    ("re", "reu", &["reunion"]),
    ("ro", "rou", &["romania"]),
    ("rs", "srb", &["republicofserbia", "serbia"]),
    ("ru", "rus", &["russia", "russianfederation"]),
    ("rw", "rwa", &["rwanda", "rwandeserepublic"]),
    ("sa", "sau", &["kingdomofsaudiarabia", "saudiarabia"]),
    ("sb", "slb", &["solomonislands"]),
    ("sc", "syc", &["republicofseychelles", "seychelles"]),
    ("sd", "sdn", &["republicofthesudan", "sudan"]),
    ("se", "swe", &["kingdomofsweden", "sweden"]),
    ("sg", "sgp", &["republicofsingapore", "singapore"]),
    ("sh", "shn", &["sainthelenaascensionandtristandacunha"]),
    ("si", "svn", &["republicofslovenia", "slovenia"]),
    ("sj", "sjm", &["svalbardandjanmayen"]),
    ("sk", "svk", &["slovakia", "slovakrepublic"]),
    ("sl", "sle", &["republicofsierraleone", "sierraleone"]),
    ("sm", "smr", &["republicofsanmarino", "sanmarino"]),
    ("sn", "sen", &["republicofsenegal", "senegal"]),
    ("so", "som", &["federalrepublicofsomalia", "somalia"]),
    ("sr", "sur", &["republicofsuriname", "suriname"]),
    ("ss", "ssd", &["republicofsouthsudan", "southsudan"]),
    (
        "st",
        "stp",
        &[
            "democraticrepublicofsaotomeandprincipe",
            "saotomeandprincipe",
        ],
    ),
    ("sv", "slv", &["elsalvador", "republicofelsalvador"]),
    ("sx", "sxm", &["sintmaartendutchpart"]),
    ("sy", "syr", &["syria", "syrianarabrepublic"]),
    ("sz", "swz", &["eswatini", "kingdomofeswatini", "swaziland"]),
    ("tc", "tca", &["turksandcaicosislands"]),
    ("td", "tcd", &["chad", "republicofchad"]),
    ("tf", "atf", &["frenchsouthernterritories"]),
    ("tg", "tgo", &["togo", "togoleserepublic"]),
    ("th", "tha", &["kingdomofthailand", "thailand"]),
    ("tj", "tjk", &["republicoftajikistan", "tajikistan"]),
    ("tk", "tkl", &["tokelau"]),
    (
        "tl",
        "tls",
        &["democraticrepublicoftimorleste", "timorleste"],
    ),
    ("tm", "tkm", &["turkmenistan"]),
    ("tn", "tun", &["republicoftunisia", "tunisia"]),
    ("to", "ton", &["kingdomoftonga", "tonga"]),
    ("tr", "tur", &["republicofturkiye", "turkey", "turkiye"]),
    (
        "tt",
        "tto",
        &["republicoftrinidadandtobago", "trinidadandtobago"],
    ),
    ("tv", "tuv", &["tuvalu"]),
    ("tw", "twn", &["taiwan", "taiwanprovinceofchina"]),
    (
        "tz",
        "tza",
        &[
            "tanzania",
            "tanzaniaunitedrepublicof",
            "unitedrepublicoftanzania",
        ],
    ),
    ("ua", "ukr", &["ukraine"]),
    ("ug", "uga", &["republicofuganda", "uganda"]),
    ("um", "umi", &["unitedstatesminoroutlyingislands"]),
    (
        "us",
        "usa",
        &["america", "unitedstates", "unitedstatesofamerica", "usa"],
    ),
    ("uy", "ury", &["easternrepublicofuruguay", "uruguay"]),
    ("uz", "uzb", &["republicofuzbekistan", "uzbekistan"]),
    ("va", "vat", &["holyseevaticancitystate", "vatican"]),
    ("vc", "vct", &["saintvincentandthegrenadines"]),
    (
        "ve",
        "ven",
        &[
            "bolivarianrepublicofvenezuela",
            "venezuela",
            "venezuelabolivarianrepublicof",
        ],
    ),
    (
        "vg",
        "vgb",
        &["britishvirginislands", "virginislandsbritish"],
    ),
    (
        "vi",
        "vir",
        &["virginislandsoftheunitedstates", "virginislandsus"],
    ),
    ("vn", "vnm", &["socialistrepublicofvietnam", "vietnam"]),
    ("vu", "vut", &["republicofvanuatu", "vanuatu"]),
    ("wf", "wlf", &["wallisandfutuna"]),
    ("ws", "wsm", &["independentstateofsamoa", "samoa"]),
    ("ye", "yem", &["republicofyemen", "yemen"]),
    ("yt", "myt", &["mayotte"]),
    ("za", "zaf", &["republicofsouthafrica", "southafrica"]),
    ("zm", "zmb", &["republicofzambia", "zambia"]),
    ("zw", "zwe", &["republicofzimbabwe", "zimbabwe"]),
];
// ISO 4217 alphabetic codes (pycountry data), sorted for binary search.
pub(crate) static CURRENCIES: &[&str] = &[
    "AED", "AFN", "ALL", "AMD", "AOA", "ARS", "AUD", "AWG", "AZN", "BAM", "BBD", "BDT", "BHD",
    "BIF", "BMD", "BND", "BOB", "BOV", "BRL", "BSD", "BTN", "BWP", "BYN", "BZD", "CAD", "CDF",
    "CHE", "CHF", "CHW", "CLF", "CLP", "CNY", "COP", "COU", "CRC", "CUP", "CVE", "CZK", "DJF",
    "DKK", "DOP", "DZD", "EGP", "ERN", "ETB", "EUR", "FJD", "FKP", "GBP", "GEL", "GHS", "GIP",
    "GMD", "GNF", "GTQ", "GYD", "HKD", "HNL", "HTG", "HUF", "IDR", "ILS", "INR", "IQD", "IRR",
    "ISK", "JMD", "JOD", "JPY", "KES", "KGS", "KHR", "KMF", "KPW", "KRW", "KWD", "KYD", "KZT",
    "LAK", "LBP", "LKR", "LRD", "LSL", "LYD", "MAD", "MDL", "MGA", "MKD", "MMK", "MNT", "MOP",
    "MRU", "MUR", "MVR", "MWK", "MXN", "MXV", "MYR", "MZN", "NAD", "NGN", "NIO", "NOK", "NPR",
    "NZD", "OMR", "PAB", "PEN", "PGK", "PHP", "PKR", "PLN", "PYG", "QAR", "RON", "RSD", "RUB",
    "RWF", "SAR", "SBD", "SCR", "SDG", "SEK", "SGD", "SHP", "SLE", "SOS", "SRD", "SSP", "STN",
    "SVC", "SYP", "SZL", "THB", "TJS", "TMT", "TND", "TOP", "TRY", "TTD", "TWD", "TZS", "UAH",
    "UGX", "USD", "USN", "UYI", "UYU", "UYW", "UZS", "VED", "VES", "VND", "VUV", "WST", "XAD",
    "XAF", "XAG", "XAU", "XBA", "XBB", "XBC", "XBD", "XCD", "XCG", "XDR", "XOF", "XPD", "XPF",
    "XPT", "XSU", "XTS", "XUA", "XXX", "YER", "ZAR", "ZMW", "ZWG",
];
// US states, DC and territories, and Canadian provinces (ISO 3166-2): (country, code, name key).
pub(crate) static STATES: &[(&str, &str, &str)] = &[
    ("ca", "ab", "alberta"),
    ("ca", "bc", "britishcolumbia"),
    ("ca", "mb", "manitoba"),
    ("ca", "nb", "newbrunswick"),
    ("ca", "nl", "newfoundlandandlabrador"),
    ("ca", "ns", "novascotia"),
    ("ca", "nt", "northwestterritories"),
    ("ca", "nu", "nunavut"),
    ("ca", "on", "ontario"),
    ("ca", "pe", "princeedwardisland"),
    ("ca", "qc", "quebec"),
    ("ca", "sk", "saskatchewan"),
    ("ca", "yt", "yukon"),
    ("us", "ak", "alaska"),
    ("us", "al", "alabama"),
    ("us", "ar", "arkansas"),
    ("us", "as", "americansamoa"),
    ("us", "az", "arizona"),
    ("us", "ca", "california"),
    ("us", "co", "colorado"),
    ("us", "ct", "connecticut"),
    ("us", "dc", "districtofcolumbia"),
    ("us", "de", "delaware"),
    ("us", "fl", "florida"),
    ("us", "ga", "georgia"),
    ("us", "gu", "guam"),
    ("us", "hi", "hawaii"),
    ("us", "ia", "iowa"),
    ("us", "id", "idaho"),
    ("us", "il", "illinois"),
    ("us", "in", "indiana"),
    ("us", "ks", "kansas"),
    ("us", "ky", "kentucky"),
    ("us", "la", "louisiana"),
    ("us", "ma", "massachusetts"),
    ("us", "md", "maryland"),
    ("us", "me", "maine"),
    ("us", "mi", "michigan"),
    ("us", "mn", "minnesota"),
    ("us", "mo", "missouri"),
    ("us", "mp", "northernmarianaislands"),
    ("us", "ms", "mississippi"),
    ("us", "mt", "montana"),
    ("us", "nc", "northcarolina"),
    ("us", "nd", "northdakota"),
    ("us", "ne", "nebraska"),
    ("us", "nh", "newhampshire"),
    ("us", "nj", "newjersey"),
    ("us", "nm", "newmexico"),
    ("us", "nv", "nevada"),
    ("us", "ny", "newyork"),
    ("us", "oh", "ohio"),
    ("us", "ok", "oklahoma"),
    ("us", "or", "oregon"),
    ("us", "pa", "pennsylvania"),
    ("us", "pr", "puertorico"),
    ("us", "ri", "rhodeisland"),
    ("us", "sc", "southcarolina"),
    ("us", "sd", "southdakota"),
    ("us", "tn", "tennessee"),
    ("us", "tx", "texas"),
    ("us", "um", "unitedstatesminoroutlyingislands"),
    ("us", "ut", "utah"),
    ("us", "va", "virginia"),
    ("us", "vi", "virginislandsus"),
    ("us", "vt", "vermont"),
    ("us", "wa", "washington"),
    ("us", "wi", "wisconsin"),
    ("us", "wv", "westvirginia"),
    ("us", "wy", "wyoming"),
];

#[cfg(test)]
mod tests {
    use super::*;

    /// Every two- and three-letter code, in both cases.
    fn codes(len: u32) -> impl Iterator<Item = String> {
        (0..26u32.pow(len)).flat_map(move |mut n| {
            let mut code = String::new();
            for _ in 0..len {
                code.insert(0, char::from(b'a' + (n % 26) as u8));
                n /= 26;
            }
            [code.clone(), code.to_ascii_uppercase()]
        })
    }

    #[test]
    fn the_alpha2_index_agrees_with_the_country_table() {
        for code in codes(2) {
            let lower = code.to_ascii_lowercase();
            let row = COUNTRIES.iter().find(|(a2, _, _)| *a2 == lower);
            assert_eq!(country_code(&code), row.map(|r| r.0), "{code}");
        }
    }

    #[test]
    fn the_currency_bits_agree_with_the_currency_table() {
        for code in codes(3) {
            assert_eq!(
                is_currency(&code),
                CURRENCIES.contains(&code.as_str()),
                "{code}"
            );
        }
        assert!(is_currency("EUR") && !is_currency("eur") && !is_currency("EURO"));
        assert!(!is_currency("") && !is_currency("É€"));
    }
}
