//! loadgen: drives a Ceilometer-compatible agent through RabbitMQ and measures it end to end.
//! (Issue 7 fills this in; until then it only says so.)

fn main() {
    eprintln!("loadgen: not implemented yet (see issue 7)");
    std::process::exit(2);
}
