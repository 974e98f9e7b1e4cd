//! Printing results as text (key: value lines) or JSON.

use serde_json::Value;

use crate::args::OutputFormat;

pub fn print(format: OutputFormat, value: &Value) {
    match format {
        OutputFormat::Json => println!(
            "{}",
            serde_json::to_string_pretty(value).unwrap_or_default()
        ),
        OutputFormat::Text => print_text(value, 0),
    }
}

fn print_text(value: &Value, indent: usize) {
    let pad = "  ".repeat(indent);
    match value {
        Value::Object(map) => {
            for (key, value) in map {
                match value {
                    Value::Object(_) | Value::Array(_) => {
                        println!("{pad}{key}:");
                        print_text(value, indent + 1);
                    }
                    scalar => println!("{pad}{key}: {}", scalar_text(scalar)),
                }
            }
        }
        Value::Array(items) => {
            for item in items {
                match item {
                    Value::Object(_) | Value::Array(_) => {
                        println!("{pad}-");
                        print_text(item, indent + 1);
                    }
                    scalar => println!("{pad}- {}", scalar_text(scalar)),
                }
            }
        }
        scalar => println!("{pad}{}", scalar_text(scalar)),
    }
}

fn scalar_text(value: &Value) -> String {
    match value {
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}
