//! Who an event is about, and what a form says about them.
//!
//! Every consumer keys contacts the same way (`contact_key`): the event's
//! `contact_id` when it has one, else its email trimmed and lower-cased.
//! Events with neither are anonymous: stored, but not attached to anyone.
//!
//! Form fields arrive under whatever names the form builder used
//! (`first_name`, `firstName`, `firstname`, HubSpot's `jobtitle`, …). Field
//! names are compared after lower-casing and dropping everything but letters
//! and digits, then looked up in an alias table modelled on OptimoCMS's
//! guide to mapping form fields to HubSpot contact properties.

use hookline_core::event::{FormSubmission, PageView};
pub use hookline_core::form_fields::field;
use hookline_core::form_fields::{EMAIL, names};
use hookline_core::{Event, EventData};

/// The contact an event is about.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Contact {
    /// `contact_id`, else the normalised email.
    pub key: String,
    /// The CRM contact id, if the event carried one.
    pub contact_id: Option<String>,
    /// The email, if the event carried one (trimmed, as given).
    pub email: Option<String>,
}

/// What a form submission tells us about its submitter. Blank values are
/// `None`, so an upsert can leave known values alone.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Profile {
    /// Email (`data.email`, else an email field).
    pub email: Option<String>,
    /// First name (or the first word of a full `name`).
    pub first_name: Option<String>,
    /// Last name (or the rest of a full `name`).
    pub last_name: Option<String>,
    /// Phone number.
    pub phone: Option<String>,
    /// Company.
    pub company: Option<String>,
    /// Job title.
    pub job_title: Option<String>,
    /// Country.
    pub country: Option<String>,
}

const PHONE: &[&str] = &[
    "phone",
    "phonenumber",
    "telephone",
    "tel",
    "mobile",
    "mobilephone",
];
const COMPANY: &[&str] = &[
    "company",
    "companyname",
    "organisation",
    "organization",
    "org",
];
const JOB_TITLE: &[&str] = &["jobtitle", "jobrole", "position", "role"];
const COUNTRY: &[&str] = &["country", "countryname", "countrycode"];
const UTM_CAMPAIGN: &[&str] = &["utmcampaign"];

/// The contact of an event, if it names one.
pub fn contact(event: &Event) -> Option<Contact> {
    let contact_id = clean(event.data.contact_id());
    let email = match &event.data {
        EventData::PageView(_) | EventData::ContentPublished(_) => None,
        EventData::FormSubmission(f) => form_email(f),
    };
    let key = match (&contact_id, &email) {
        (Some(id), _) => id.clone(),
        (None, Some(email)) => email.to_lowercase(),
        (None, None) => return None,
    };
    Some(Contact {
        key,
        contact_id,
        email,
    })
}

/// The submitter's details from a form's fields.
pub fn profile(form: &FormSubmission) -> Profile {
    let fields = &form.fields;
    let (first_name, last_name) = names(fields);
    Profile {
        email: form_email(form),
        first_name,
        last_name,
        phone: field(fields, PHONE).map(str::to_string),
        company: field(fields, COMPANY).map(str::to_string),
        job_title: field(fields, JOB_TITLE).map(str::to_string),
        country: field(fields, COUNTRY).map(str::to_string),
    }
}

/// The campaign that brought the event (`utm_campaign`), if any.
pub fn utm_campaign(event: &Event) -> Option<&str> {
    match &event.data {
        EventData::PageView(PageView { utm_campaign, .. }) => utm_campaign
            .as_deref()
            .map(str::trim)
            .filter(|s| !s.is_empty()),
        EventData::FormSubmission(f) => field(&f.fields, UTM_CAMPAIGN),
        EventData::ContentPublished(_) => None,
    }
}

/// The email of a form: `data.email`, else an email field. Values without
/// an `@` are not emails (forms send "n/a").
pub fn form_email(form: &FormSubmission) -> Option<String> {
    clean(form.email.as_deref())
        .or_else(|| field(&form.fields, EMAIL).map(str::to_string))
        .filter(|e| e.contains('@'))
}

fn clean(s: Option<&str>) -> Option<String> {
    s.map(str::trim)
        .filter(|s| !s.is_empty())
        .map(str::to_string)
}

#[cfg(test)]
mod tests {
    use super::*;
    use hookline_core::EventData;

    fn form(contact_id: Option<&str>, email: Option<&str>, fields: &[(&str, &str)]) -> Event {
        Event::new(EventData::FormSubmission(FormSubmission::new(
            "frm_1", contact_id, email, fields,
        )))
    }

    #[test]
    fn contact_id_wins_then_normalised_email_then_nobody() {
        let c = contact(&form(Some(" cnt_1 "), Some("A@B.com"), &[])).unwrap();
        assert_eq!(c.key, "cnt_1");
        assert_eq!(c.email.as_deref(), Some("A@B.com"));
        let c = contact(&form(None, Some(" Jo@Acme.COM "), &[])).unwrap();
        assert_eq!(c.key, "jo@acme.com");
        let c = contact(&form(Some(""), None, &[("Email", "x@y.z")])).unwrap();
        assert_eq!(c.key, "x@y.z");
        assert_eq!(contact(&form(None, Some("n/a"), &[])), None);
        assert_eq!(contact(&form(None, None, &[])), None);
    }

    #[test]
    fn field_aliases_follow_the_hubspot_mapping() {
        let EventData::FormSubmission(f) = form(
            None,
            None,
            &[
                ("firstname", "Ann"),
                ("Last Name", " Lee "),
                ("jobtitle", "CFO"),
                ("company_name", "Acme"),
                ("country", ""),
                ("utm_campaign", "Q4"),
            ],
        )
        .data
        else {
            unreachable!()
        };
        let p = profile(&f);
        assert_eq!(p.first_name.as_deref(), Some("Ann"));
        assert_eq!(p.last_name.as_deref(), Some("Lee"));
        assert_eq!(p.job_title.as_deref(), Some("CFO"));
        assert_eq!(p.company.as_deref(), Some("Acme"));
        assert_eq!(p.country, None, "blank is unknown");
    }

    #[test]
    fn a_full_name_fills_missing_first_and_last() {
        let EventData::FormSubmission(f) = form(
            None,
            None,
            &[("name", "Mary Ann Smith"), ("lastName", "S.")],
        )
        .data
        else {
            unreachable!()
        };
        let p = profile(&f);
        assert_eq!(p.first_name.as_deref(), Some("Mary"));
        assert_eq!(p.last_name.as_deref(), Some("S."), "an explicit field wins");
    }

    #[test]
    fn utm_campaign_from_form_fields() {
        let ev = form(None, None, &[("utmCampaign", " AI_Q4 ")]);
        assert_eq!(utm_campaign(&ev), Some("AI_Q4"));
    }
}
