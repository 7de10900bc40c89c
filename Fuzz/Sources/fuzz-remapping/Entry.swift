import FuzzTargets

/// libFuzzer's entry for the target of the same name (Sources/FuzzTargets).
@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzOneInput(_ data: UnsafePointer<UInt8>?, _ size: Int) -> CInt {
    FuzzTarget.libFuzzerEntry("fuzz-remapping", data, size)
}
