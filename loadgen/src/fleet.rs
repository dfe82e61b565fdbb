//! The functions traffic is generated for.

/// Where a function runs; decides its resource attributes' shape.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Platform {
    AwsLambda,
    AzureFunctions,
    GcpCloudRun,
}

/// One function of the synthetic fleet.
#[derive(Debug, Clone)]
pub struct Function {
    pub service: String,
    pub name: String,
    pub platform: Platform,
    pub region: &'static str,
    pub account: &'static str,
    pub memory_mb: i64,
    pub version: String,
    pub route: String,
}

const SERVICES: [&str; 4] = ["checkout", "orders", "payments", "notifications"];
const VERBS: [&str; 6] = ["create", "get", "list", "update", "process", "notify"];
const REGIONS: [&str; 3] = ["eu-west-1", "us-east-1", "ap-southeast-2"];

/// `n` functions spread over services, platforms and regions (deterministic).
pub fn fleet(n: usize) -> Vec<Function> {
    (0..n)
        .map(|i| {
            let service = SERVICES[i % SERVICES.len()];
            let verb = VERBS[(i / SERVICES.len()) % VERBS.len()];
            let platform = match i % 5 {
                3 => Platform::AzureFunctions,
                4 => Platform::GcpCloudRun,
                _ => Platform::AwsLambda,
            };
            Function {
                service: service.to_string(),
                name: format!("{service}-{verb}-{i}"),
                platform,
                region: REGIONS[i % REGIONS.len()],
                account: "123456789012",
                memory_mb: [128, 256, 512, 1024][i % 4],
                version: format!("{}", 1 + i % 3),
                route: format!("/{service}/{{id}}"),
            }
        })
        .collect()
}
