//! The demo's sample contacts: realistic, deterministic, a handful of bad e-mails.

const FIRST: [&str; 16] = [
    "Camille", "Louis", "Léa", "Hugo", "Chloé", "Lucas", "Manon", "Gabriel", "Inès", "Arthur",
    "Jade", "Jules", "Zoé", "Nathan", "Emma", "Raphaël",
];
const LAST: [&str; 16] = [
    "Martin", "Bernard", "Dubois", "Thomas", "Robert", "Richard", "Petit", "Durand", "Leroy",
    "Moreau", "Simon", "Laurent", "Lefebvre", "Michel", "García", "De Smet",
];
const CITIES: [&str; 8] = [
    "Lille",
    "Roubaix",
    "Paris",
    "Lyon",
    "Amsterdam",
    "Gent",
    "Nantes",
    "Bordeaux",
];
const DOMAINS: [&str; 4] = ["example.com", "example.fr", "example.nl", "example.org"];

/// Rows whose e-mail is deliberately invalid: every 500th, starting with the 250th.
pub fn is_bad(row: u64) -> bool {
    row % 500 == 249
}

/// The number of bad rows among `rows`.
pub fn bad_rows(rows: u64) -> u64 {
    (0..rows).filter(|&r| is_bad(r)).count() as u64
}

fn ascii(name: &str) -> String {
    name.chars()
        .map(|c| match c {
            'é' | 'è' => 'e',
            'ï' => 'i',
            'ë' => 'e',
            ' ' => '-',
            c => c.to_ascii_lowercase(),
        })
        .collect()
}

/// Writes `rows` contacts (`email,first_name,last_name,city`) to `out`.
pub fn write(out: &mut impl std::io::Write, rows: u64) -> std::io::Result<()> {
    writeln!(out, "email,first_name,last_name,city")?;
    for row in 0..rows {
        let first = FIRST[(row % 16) as usize];
        let last = LAST[((row / 16) % 16) as usize];
        let city = CITIES[((row * 7) % 8) as usize];
        let domain = DOMAINS[((row / 3) % 4) as usize];
        let email = if is_bad(row) {
            // A typo a real file would have: no `@`.
            format!("{}.{}{row}.{domain}", ascii(first), ascii(last))
        } else {
            format!("{}.{}{row}@{domain}", ascii(first), ascii(last))
        };
        let last = if last.contains(' ') {
            format!("\"{last}\"")
        } else {
            last.to_owned()
        };
        writeln!(out, "{email},{first},{last},{city}")?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sample_is_deterministic_and_has_bad_rows() {
        let (mut a, mut b) = (Vec::new(), Vec::new());
        write(&mut a, 1000).unwrap();
        write(&mut b, 1000).unwrap();
        assert_eq!(a, b);
        let text = String::from_utf8(a).unwrap();
        assert_eq!(text.lines().count(), 1001);
        assert_eq!(
            text.lines()
                .skip(1)
                .filter(|l| !l.split(',').next().unwrap().contains('@'))
                .count(),
            2
        );
        assert_eq!(bad_rows(1000), 2);
        assert_eq!(bad_rows(2500), 5);
    }
}
