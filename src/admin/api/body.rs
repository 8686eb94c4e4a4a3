//! Request bodies: one `#[serde(deny_unknown_fields)]` struct per body, the
//! field types that give each type error its wording, and the parser that
//! names the offending field in every error (`param`). The structs are also
//! what the OpenAPI document is checked against (`openapi.rs` tests), through
//! [`field_names`], which asks serde itself for a struct's fields.
//!
//! Rules every body follows (the admin UI and scripts rely on them):
//! - an empty body is an empty object; anything but a JSON object is refused;
//! - an unknown field is an error that lists the allowed ones (typos must not
//!   pass silently), reported before any other error;
//! - `null` means "absent", except where a PATCH gives it a meaning of its own
//!   (`"api_key": null` forgets the key, `"priority": null` on a mapping falls
//!   back to the provider's): those fields are `Option<Option<T>>`.
use std::fmt;

use serde::de::{self, DeserializeOwned, IntoDeserializer, MapAccess, Visitor};
use serde::{Deserialize, Deserializer};
use serde_json::{Map, Value};

use super::reply::bad;
use crate::admin::AdminResponse;
use crate::catalog::{KeySource, MappingInput, ProviderInput};
use crate::db::MappingPatch;
use crate::secret::Secret;

/// `POST /providers` (`Name` = [`Text`]: required) and
/// `PATCH /providers/{name}` (`Name` = `Option<Text>`: a rename).
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct ProviderBody<Name> {
    name: Name,
    kind: Option<Text>,
    base_url: Option<Text>,
    #[serde(default, deserialize_with = "nullable")]
    api_key: Option<Option<Text>>,
    #[serde(default, deserialize_with = "nullable")]
    api_key_env: Option<Option<Text>>,
    priority: Option<Int>,
    weight: Option<Int>,
    max_retries: Option<Int>,
    timeout_ms: Option<Int>,
    rate_limit_rpm: Option<Int>,
    enabled: Option<Flag>,
    models: Option<Names>,
}

pub(crate) type ProviderCreate = ProviderBody<Text>;
pub(crate) type ProviderUpdate = ProviderBody<Option<Text>>;

impl ProviderCreate {
    /// The new provider's name and its fields.
    pub(crate) fn into_input(self) -> Result<(String, ProviderInput), BodyError> {
        let name = self.name.0.trim().to_string();
        Ok((name, self.fields()?))
    }
}

impl ProviderUpdate {
    /// The changed fields; a `name` renames (mappings and settings stay).
    pub(crate) fn into_input(self) -> Result<ProviderInput, BodyError> {
        let rename = self.name.as_ref().map(|n| n.0.trim().to_string());
        Ok(ProviderInput {
            rename,
            ..self.fields()?
        })
    }
}

impl<Name> ProviderBody<Name> {
    fn fields(self) -> Result<ProviderInput, BodyError> {
        // Either field set to null forgets the key.
        let cleared = matches!(self.api_key, Some(None)) || matches!(self.api_key_env, Some(None));
        let key = match (self.api_key.flatten(), self.api_key_env.flatten()) {
            (Some(_), Some(_)) => {
                return Err(BodyError::field(
                    "api_key_env",
                    "set `api_key` or `api_key_env`, not both",
                ))
            }
            (Some(Text(k)), None) => Some(KeySource::Inline(Secret::new(k.trim()))),
            (None, Some(Text(v))) => Some(KeySource::Env(v.trim().to_string())),
            (None, None) if cleared => Some(KeySource::None),
            (None, None) => None,
        };
        Ok(ProviderInput {
            kind: self.kind.map(|Text(s)| s.trim().to_string()),
            base_url: self
                .base_url
                .map(|Text(s)| s.trim().to_string())
                .filter(|s| !s.is_empty()),
            key,
            priority: int(self.priority),
            weight: int(self.weight),
            max_retries: int(self.max_retries),
            timeout_ms: int(self.timeout_ms),
            rate_limit_rpm: int(self.rate_limit_rpm),
            enabled: self.enabled.map(|Flag(b)| b),
            models: self.models.map(|Names(m)| m).unwrap_or_default(),
            rename: None,
        })
    }
}

/// `POST /models`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct ModelCreate {
    name: Text,
    description: Option<Text>,
    enabled: Option<Flag>,
    providers: Option<MappingList>,
}

/// A model to create: what [`ModelCreate`] becomes.
#[derive(Debug)]
pub(crate) struct NewModel {
    pub(crate) name: String,
    pub(crate) description: Option<String>,
    pub(crate) enabled: Option<bool>,
    pub(crate) mappings: Vec<MappingInput>,
}

impl ModelCreate {
    pub(crate) fn into_model(self) -> Result<NewModel, BodyError> {
        let mappings = match self.providers {
            Some(MappingList(items)) => items
                .into_iter()
                .map(mapping_item)
                .collect::<Result<_, _>>()?,
            None => Vec::new(),
        };
        Ok(NewModel {
            name: self.name.0.trim().to_string(),
            description: self.description.map(|Text(s)| s),
            enabled: self.enabled.map(|Flag(b)| b),
            mappings,
        })
    }
}

/// One entry of `providers` in [`ModelCreate`]: `"provider"`,
/// `"provider=upstream"` or a [`MappingCreate`] object. Every error names
/// `providers`.
fn mapping_item(item: Value) -> Result<MappingInput, BodyError> {
    match item {
        Value::String(s) => s
            .parse::<MappingInput>()
            .map_err(|e| BodyError::field("providers", e.message)),
        Value::Object(o) => parse_map::<MappingCreate>(o)
            .and_then(MappingCreate::into_input)
            .map_err(|e| {
                let message = match e {
                    BodyError::Unknown { field, .. } => format!("unknown mapping field `{field}`"),
                    e => e.to_string(),
                };
                BodyError::field("providers", message)
            }),
        _ => Err(BodyError::field(
            "providers",
            "each mapping is `\"provider\"`, `\"provider=upstream\"` or an object",
        )),
    }
}

/// `PATCH /models/{name}`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct ModelUpdate {
    description: Option<Text>,
    enabled: Option<Flag>,
}

impl ModelUpdate {
    /// `(description, enabled)`; `None` = unchanged.
    pub(crate) fn into_parts(self) -> (Option<String>, Option<bool>) {
        (
            self.description.map(|Text(s)| s),
            self.enabled.map(|Flag(b)| b),
        )
    }
}

/// `POST /models/{name}/mappings`, and an object in [`ModelCreate`]'s
/// `providers`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct MappingCreate {
    provider: Text,
    upstream_model: Option<Text>,
    priority: Option<Int>,
    weight: Option<Int>,
}

impl MappingCreate {
    pub(crate) fn into_input(self) -> Result<MappingInput, BodyError> {
        let mut m: MappingInput = self
            .provider
            .0
            .parse()
            .map_err(|e: crate::catalog::Invalid| BodyError::field("provider", e.message))?;
        if m.upstream_model.is_some() {
            return Err(BodyError::field(
                "provider",
                "give the provider's name only; the upstream model goes in `upstream_model`",
            ));
        }
        m.upstream_model = self
            .upstream_model
            .map(|Text(s)| s.trim().to_string())
            .filter(|s| !s.is_empty());
        m.priority = int(self.priority);
        m.weight = int(self.weight);
        Ok(m)
    }
}

/// `PATCH /models/{name}/mappings/{provider}`: `null` priority or weight =
/// the provider's own.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct MappingUpdate {
    upstream_model: Option<Text>,
    #[serde(default, deserialize_with = "int_or_null")]
    priority: Option<Option<i64>>,
    #[serde(default, deserialize_with = "int_or_null")]
    weight: Option<Option<i64>>,
    enabled: Option<Flag>,
}

impl MappingUpdate {
    pub(crate) fn into_patch(self) -> MappingPatch {
        MappingPatch {
            upstream_model: self.upstream_model.map(|Text(s)| s),
            priority: self.priority,
            weight: self.weight,
            enabled: self.enabled.map(|Flag(b)| b),
        }
    }
}

/// `POST /keys`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct KeyCreate {
    name: Text,
    rpm_limit: Option<Int>,
    models: Option<Names>,
}

impl KeyCreate {
    /// `(name, rpm limit, allowed models)`; no models (or an empty list) =
    /// all models.
    pub(crate) fn into_parts(self) -> (String, Option<i64>, Option<Vec<String>>) {
        (
            self.name.0.trim().to_string(),
            int(self.rpm_limit),
            self.models.map(|Names(m)| m).filter(|m| !m.is_empty()),
        )
    }
}

// ------------------------------------------------------------ field types
//
// Each refuses a wrong JSON type with a phrase ("must be a string") that the
// parser completes with the field's name. A `null` reaches them only for a
// required field (`Option` takes it otherwise), where it reads as missing.

/// A string.
#[derive(Debug)]
pub(crate) struct Text(String);

/// A whole number that fits in `i64`.
#[derive(Debug)]
pub(crate) struct Int(i64);

/// `true` or `false`.
#[derive(Debug)]
pub(crate) struct Flag(bool);

/// A list of strings, each trimmed; empty ones are dropped.
#[derive(Debug)]
pub(crate) struct Names(Vec<String>);

/// `providers` of [`ModelCreate`]: a list whose items [`mapping_item`] reads.
#[derive(Debug)]
pub(crate) struct MappingList(Vec<Value>);

fn int(v: Option<Int>) -> Option<i64> {
    v.map(|Int(n)| n)
}

impl<'de> Deserialize<'de> for Text {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        match Value::deserialize(d)? {
            Value::String(s) => Ok(Text(s)),
            _ => Err(de::Error::custom("must be a string")),
        }
    }
}

impl<'de> Deserialize<'de> for Int {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        Value::deserialize(d)?
            .as_i64()
            .map(Int)
            .ok_or_else(|| de::Error::custom("must be a whole number"))
    }
}

impl<'de> Deserialize<'de> for Flag {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        match Value::deserialize(d)? {
            Value::Bool(b) => Ok(Flag(b)),
            _ => Err(de::Error::custom("must be true or false")),
        }
    }
}

impl<'de> Deserialize<'de> for Names {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let wrong = || de::Error::custom("must be a list of strings");
        let Value::Array(items) = Value::deserialize(d)? else {
            return Err(wrong());
        };
        let mut out = Vec::with_capacity(items.len());
        for item in items {
            let Value::String(s) = item else {
                return Err(wrong());
            };
            let s = s.trim();
            if !s.is_empty() {
                out.push(s.to_string());
            }
        }
        Ok(Names(out))
    }
}

impl<'de> Deserialize<'de> for MappingList {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        match Value::deserialize(d)? {
            Value::Array(items) => Ok(MappingList(items)),
            _ => Err(de::Error::custom("must be a list of mappings")),
        }
    }
}

/// A PATCH field where `null` means something: absent = `None` (with
/// `#[serde(default)]`), `null` = `Some(None)`, a value = `Some(Some(v))`.
fn nullable<'de, D, T>(d: D) -> Result<Option<Option<T>>, D::Error>
where
    D: Deserializer<'de>,
    T: Deserialize<'de>,
{
    Option::<T>::deserialize(d).map(Some)
}

/// [`nullable`] for a whole number, whose error says null is allowed.
fn int_or_null<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Option<i64>>, D::Error> {
    nullable::<D, Int>(d)
        .map(|v| v.map(int))
        .map_err(|_| de::Error::custom("must be a whole number or null"))
}

// ----------------------------------------------------------------- parser

/// Parses a request body into `T`; every error names the field.
pub(crate) fn parse<T: DeserializeOwned>(body: &[u8]) -> Result<T, AdminResponse> {
    Ok(parse_map(json_object(body)?)?)
}

fn json_object(body: &[u8]) -> Result<Map<String, Value>, BodyError> {
    if body.iter().all(u8::is_ascii_whitespace) {
        return Ok(Map::new());
    }
    match serde_json::from_slice(body) {
        Ok(Value::Object(map)) => Ok(map),
        Ok(_) => Err(BodyError::Syntax(
            "request body must be a JSON object".into(),
        )),
        Err(e) => Err(BodyError::Syntax(format!(
            "request body is not valid JSON: {e}"
        ))),
    }
}

/// Deserializes `T` from a JSON object. Of several errors, the one reported
/// is: an unknown field (the error lists the allowed ones), else a missing
/// required field, else the first wrong value in `T`'s declaration order (not
/// the client's key order).
fn parse_map<T: DeserializeOwned>(map: Map<String, Value>) -> Result<T, BodyError> {
    let fields = field_names::<T>();
    if let Some(k) = map.keys().find(|k| !fields.contains(&k.as_str())) {
        return Err(de::Error::unknown_field(k, fields));
    }
    let mut entries: Vec<(String, Value)> = map.into_iter().collect();
    entries.sort_by_key(|(k, _)| fields.iter().position(|f| f == k));
    let first = match T::deserialize(Entries::new(entries.clone())) {
        Ok(t) => return Ok(t),
        Err(e) => e,
    };
    // serde finds missing fields only at the end: drop the wrong values one
    // by one to see whether a required field is missing too (one that was
    // sent, even with a wrong value, is not).
    let BodyError::Field { field, .. } = &first else {
        return Err(first);
    };
    let mut dropped = vec![field.clone()];
    loop {
        entries.retain(|(k, _)| !dropped.contains(k));
        match T::deserialize(Entries::new(entries.clone())) {
            Err(BodyError::Missing(f)) if !dropped.contains(&f) => {
                return Err(BodyError::Missing(f))
            }
            Err(BodyError::Field { field, .. }) => dropped.push(field),
            _ => return Err(first),
        }
    }
}

/// The field names of the body struct `T`, in declaration order, as serde
/// sees them (renames included): the list the derive passes to
/// `deserialize_struct`.
pub(crate) fn field_names<T: DeserializeOwned>() -> &'static [&'static str] {
    match T::deserialize(FieldNames) {
        Err(BodyError::Fields(fields)) => fields,
        _ => &[],
    }
}

/// Why a body was refused. Also the error type of the deserializers below,
/// so that serde's unknown-field and missing-field errors get our wording.
#[derive(Debug)]
pub(crate) enum BodyError {
    /// Not JSON, or not an object.
    Syntax(String),
    Unknown {
        field: String,
        allowed: &'static [&'static str],
    },
    Missing(String),
    /// A field's value is wrong; `message` says so in full.
    Field {
        field: String,
        message: String,
    },
    /// serde's own message with no field to name.
    Other(String),
    /// Not an error: how [`field_names`] gets the struct's fields out.
    Fields(&'static [&'static str]),
}

impl BodyError {
    fn field(field: &str, message: impl Into<String>) -> Self {
        BodyError::Field {
            field: field.to_string(),
            message: message.into(),
        }
    }
}

impl fmt::Display for BodyError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            BodyError::Syntax(m) | BodyError::Other(m) => f.write_str(m),
            BodyError::Unknown { field, allowed } => {
                write!(
                    f,
                    "unknown field `{field}`; allowed: {}",
                    allowed.join(", ")
                )
            }
            BodyError::Missing(field) => write!(f, "`{field}` is required"),
            BodyError::Field { message, .. } => f.write_str(message),
            BodyError::Fields(fields) => write!(f, "fields: {}", fields.join(", ")),
        }
    }
}

impl std::error::Error for BodyError {}

impl de::Error for BodyError {
    fn custom<M: fmt::Display>(msg: M) -> Self {
        BodyError::Other(msg.to_string())
    }

    fn unknown_field(field: &str, expected: &'static [&'static str]) -> Self {
        BodyError::Unknown {
            field: field.to_string(),
            allowed: expected,
        }
    }

    fn missing_field(field: &'static str) -> Self {
        BodyError::Missing(field.to_string())
    }
}

impl From<BodyError> for AdminResponse {
    fn from(e: BodyError) -> Self {
        let message = e.to_string();
        match e {
            BodyError::Syntax(_) => AdminResponse::error(
                400,
                "invalid_request_error",
                message,
                None,
                Some("invalid_json"),
            ),
            BodyError::Unknown { field, .. }
            | BodyError::Missing(field)
            | BodyError::Field { field, .. } => bad(&field, message),
            BodyError::Other(_) | BodyError::Fields(_) => {
                AdminResponse::error(400, "invalid_request_error", message, None, None)
            }
        }
    }
}

/// A JSON object as a serde map whose value errors name their key.
struct Entries {
    entries: std::vec::IntoIter<(String, Value)>,
    value: Option<(String, Value)>,
}

impl Entries {
    fn new(entries: Vec<(String, Value)>) -> Self {
        Entries {
            entries: entries.into_iter(),
            value: None,
        }
    }
}

impl<'de> de::Deserializer<'de> for Entries {
    type Error = BodyError;

    fn deserialize_any<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, BodyError> {
        visitor.visit_map(self)
    }

    serde::forward_to_deserialize_any! {
        bool i8 i16 i32 i64 i128 u8 u16 u32 u64 u128 f32 f64 char str string
        bytes byte_buf option unit unit_struct newtype_struct seq tuple
        tuple_struct map struct enum identifier ignored_any
    }
}

impl<'de> MapAccess<'de> for Entries {
    type Error = BodyError;

    fn next_key_seed<K: de::DeserializeSeed<'de>>(
        &mut self,
        seed: K,
    ) -> Result<Option<K::Value>, BodyError> {
        let Some((key, value)) = self.entries.next() else {
            return Ok(None);
        };
        let k = seed.deserialize(key.as_str().into_deserializer())?;
        self.value = Some((key, value));
        Ok(Some(k))
    }

    fn next_value_seed<V: de::DeserializeSeed<'de>>(
        &mut self,
        seed: V,
    ) -> Result<V::Value, BodyError> {
        let (field, value) = self
            .value
            .take()
            .ok_or_else(|| de::Error::custom("a value without its key"))?;
        // Only a required field refuses `null` (see the field types).
        let null = value.is_null();
        seed.deserialize(value).map_err(|e| {
            if null {
                BodyError::Missing(field)
            } else {
                BodyError::Field {
                    message: format!("`{field}` {e}"),
                    field,
                }
            }
        })
    }
}

/// A deserializer that only answers `deserialize_struct`, with the fields.
struct FieldNames;

impl<'de> de::Deserializer<'de> for FieldNames {
    type Error = BodyError;

    fn deserialize_any<V: Visitor<'de>>(self, _: V) -> Result<V::Value, BodyError> {
        Err(de::Error::custom("not a struct"))
    }

    fn deserialize_struct<V: Visitor<'de>>(
        self,
        _: &'static str,
        fields: &'static [&'static str],
        _: V,
    ) -> Result<V::Value, BodyError> {
        Err(BodyError::Fields(fields))
    }

    serde::forward_to_deserialize_any! {
        bool i8 i16 i32 i64 i128 u8 u16 u32 u64 u128 f32 f64 char str string
        bytes byte_buf option unit unit_struct newtype_struct seq tuple
        tuple_struct map enum identifier ignored_any
    }
}

/// The required fields of `T` in declaration order, found by parsing ever
/// fuller objects until none is missing. Each missing field is filled with a
/// string (every required field is a [`Text`]); a required field of another
/// type ends the search early, which the OpenAPI test then reports.
#[cfg(test)]
pub(super) fn required_fields<T: DeserializeOwned>() -> Vec<String> {
    let mut map = Map::new();
    let mut out = Vec::new();
    while let Err(BodyError::Missing(f)) = parse_map::<T>(map.clone()) {
        if out.contains(&f) {
            break;
        }
        map.insert(f.clone(), Value::String("x".into()));
        out.push(f);
    }
    out
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn err<T: DeserializeOwned + fmt::Debug>(body: Value) -> (String, String) {
        let e = parse_map::<T>(body.as_object().cloned().unwrap_or_default()).unwrap_err();
        let param = match &e {
            BodyError::Unknown { field, .. }
            | BodyError::Missing(field)
            | BodyError::Field { field, .. } => field.clone(),
            other => panic!("no field named: {other:?}"),
        };
        (param, e.to_string())
    }

    #[test]
    fn errors_name_the_field_in_the_api_s_wording() {
        let cases = [
            (json!({"name": "x", "wieght": 1}), "wieght", "unknown field `wieght`; allowed: name, kind, base_url, api_key, api_key_env, priority, weight, max_retries, timeout_ms, rate_limit_rpm, enabled, models"),
            (json!({"kind": "openai"}), "name", "`name` is required"),
            (json!({"name": null}), "name", "`name` is required"),
            (json!({"name": 5}), "name", "`name` must be a string"),
            (json!({"name": "x", "weight": 1.5}), "weight", "`weight` must be a whole number"),
            (json!({"name": "x", "enabled": "yes"}), "enabled", "`enabled` must be true or false"),
            (json!({"name": "x", "models": [1]}), "models", "`models` must be a list of strings"),
            (json!({"name": "x", "api_key": 5}), "api_key", "`api_key` must be a string"),
            // A missing required field comes before a wrong value.
            (json!({"kind": 5}), "name", "`name` is required"),
        ];
        for (body, param, message) in cases {
            let got = err::<ProviderCreate>(body.clone());
            assert_eq!(got, (param.to_string(), message.to_string()), "{body}");
        }
        assert_eq!(
            err::<MappingUpdate>(json!({"priority": "high"})).1,
            "`priority` must be a whole number or null"
        );
    }

    #[test]
    fn null_is_absent_except_where_a_patch_gives_it_a_meaning() {
        let p = |body: Value| {
            parse_map::<ProviderUpdate>(body.as_object().cloned().unwrap_or_default())
                .unwrap()
                .into_input()
                .unwrap()
        };
        assert_eq!(p(json!({"weight": null})).weight, None);
        assert_eq!(p(json!({})).key, None);
        assert_eq!(p(json!({"api_key": null})).key, Some(KeySource::None));
        assert_eq!(p(json!({"api_key_env": null})).key, Some(KeySource::None));
        assert_eq!(
            p(json!({"api_key_env": " K "})).key,
            Some(KeySource::Env("K".into()))
        );
        assert_eq!(p(json!({"name": " p2 "})).rename.as_deref(), Some("p2"));
        let patch = |body: Value| {
            parse_map::<MappingUpdate>(body.as_object().cloned().unwrap_or_default())
                .unwrap()
                .into_patch()
        };
        assert_eq!(patch(json!({})).priority, None);
        assert_eq!(patch(json!({"priority": null})).priority, Some(None));
        assert_eq!(patch(json!({"priority": 3})).priority, Some(Some(3)));
    }

    #[test]
    fn mapping_list_errors_name_providers() {
        let e = |providers: Value| err::<ModelCreate>(json!({"name": "m", "providers": providers}));
        let m = |providers: Value| {
            parse_map::<ModelCreate>(
                json!({"name": "m", "providers": providers})
                    .as_object()
                    .cloned()
                    .unwrap_or_default(),
            )
            .and_then(ModelCreate::into_model)
            .unwrap_err()
            .to_string()
        };
        assert_eq!(
            e(json!("p")),
            (
                "providers".into(),
                "`providers` must be a list of mappings".into()
            )
        );
        assert_eq!(
            m(json!([{"provider": "p", "x": 1}])),
            "unknown mapping field `x`"
        );
        assert_eq!(
            m(json!([{"upstream_model": "u"}])),
            "`provider` is required"
        );
        assert_eq!(
            m(json!([5])),
            "each mapping is `\"provider\"`, `\"provider=upstream\"` or an object"
        );
    }

    #[test]
    fn bodies_are_json_objects() {
        assert!(json_object(b"  ").unwrap().is_empty());
        assert!(matches!(json_object(b"[1]"), Err(BodyError::Syntax(_))));
        assert!(matches!(json_object(b"{nope"), Err(BodyError::Syntax(_))));
    }

    #[test]
    fn field_names_come_from_serde() {
        assert_eq!(field_names::<KeyCreate>(), &["name", "rpm_limit", "models"]);
        assert_eq!(required_fields::<KeyCreate>(), vec!["name".to_string()]);
        assert!(required_fields::<ProviderUpdate>().is_empty());
    }
}
