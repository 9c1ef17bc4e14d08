import BranchSyncTestSupport
import Testing

@testable import BranchSyncCore

@Suite struct RecordEncodingTests {
    func sample() throws -> RecordState {
        let site = try SiteID("bj01")
        var state = RecordState(
            id: try RecordID("01890a5d-ac96-774b-bcce-b302099a8057"), collection: .customers, owner: site)
        state.applyLocalWrite(
            ["name": "北京\"华信\"\n", "code": "110001"],
            stamp: Stamp(
                dot: Dot(site: site, counter: 3), time: HLCTimestamp(wallMilliseconds: 1_700_000_000_000, logical: 2)))
        state.applyLocalDelete(
            stamp: Stamp(
                dot: Dot(site: site, counter: 4), time: HLCTimestamp(wallMilliseconds: 1_700_000_000_500, logical: 0)))
        return state
    }

    @Test func binaryRoundTripsAndIsCanonical() throws {
        let state = try sample()
        let bytes = state.encoded()
        #expect(try RecordState(decoding: bytes) == state)
        var copy = state
        copy.fields = Dictionary(uniqueKeysWithValues: state.fields.reversed())
        #expect(copy.encoded() == bytes)
    }

    @Test func everyTruncationIsRefused() throws {
        let bytes = try sample().encoded()
        for length in 0..<bytes.count {
            #expect(throws: MalformedDataError.self) { _ = try RecordState(decoding: Array(bytes[0..<length])) }
        }
        #expect(throws: MalformedDataError.self) { _ = try RecordState(decoding: bytes + [0]) }
    }

    @Test func varintsMustBeMinimalSoEncodingsStayCanonical() throws {
        var good = BinaryReader([0x80, 0x01])
        #expect(try good.readVarint() == 128)
        var padded = BinaryReader([0x81, 0x00])
        #expect(throws: MalformedDataError.self) { _ = try padded.readVarint() }
        var zero = BinaryReader([0x00])
        #expect(try zero.readVarint() == 0)
        var writer = BinaryWriter()
        for value: UInt64 in [0, 1, 127, 128, 16_383, 16_384, UInt64.max] {
            writer = BinaryWriter()
            writer.writeVarint(value)
            var reader = BinaryReader(writer.bytes)
            #expect(try reader.readVarint() == value)
            #expect(reader.isAtEnd)
        }
    }

    @Test func randomBytesNeverCrashTheDecoder() {
        var generator = SeededGenerator(seed: 42)
        for _ in 0..<20_000 {
            var bytes = (0..<Int.random(in: 0...80, using: &generator)).map { _ in
                UInt8.random(in: 0...255, using: &generator)
            }
            if !bytes.isEmpty { bytes[0] = 1 }
            _ = try? RecordState(decoding: bytes)
        }
    }

    @Test func canonicalJSONIsStableAndEscaped() throws {
        let json = try sample().canonicalJSON
        #expect(
            json
                == #"{"id":"01890a5d-ac96-774b-bcce-b302099a8057","collection":"customers","owner":"bj01","deleted":true,"vv":{"bj01":4},"deletion":{"context":{"bj01":4},"stamp":{"site":"bj01","counter":4,"wall":1700000000500,"logical":0}},"fields":{"code":{"value":"110001","stamp":{"site":"bj01","counter":3,"wall":1700000000000,"logical":2}},"name":{"value":"北京\"华信\"\n","stamp":{"site":"bj01","counter":3,"wall":1700000000000,"logical":2}}}}"#
        )
    }
}
