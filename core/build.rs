//! Short names for the platform groups the code tests (`linux_like`,
//! `apple`), so that `cfg` lines say what they mean once.

fn main() {
    cfg_aliases::cfg_aliases! {
        linux_like: { any(target_os = "linux", target_os = "android") },
        apple: { target_vendor = "apple" },
    }
}
