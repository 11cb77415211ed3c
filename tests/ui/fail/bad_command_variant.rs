use iotc_sdk::Commands;

#[derive(Commands)]
enum Command {
    Reboot { delay: i32 },
    Move(f64, f64),
    #[iotc(request(name = "delay"))]
    Reset,
    #[iotc(response(name = "report"))]
    Report,
}

#[derive(Commands)]
enum Generic<T> {
    Set(T),
}

fn main() {}
