import BranchSyncTestSupport
import Testing

@testable import BranchSyncCore

@Suite struct CreditCodeTests {
    /// Published codes of real companies (Huawei, Tencent, Alibaba, and two more) and the standard's example.
    @Test(arguments: [
        "914403001922038216", "9144030071526726XG", "91330100716105852F", "91110000802100433B",
        "91310000132200821H", "91350100M000100Y43",
    ])
    func acceptsRealCodes(_ code: String) throws {
        try CreditCode.validate(code)
    }

    @Test func wrongCheckCharacterNamesTheExpectedOne() {
        #expect(
            throws: ValidationError(
                field: "creditCode", message: "credit code '914403001922038217' has check character '7', expected '6'")
        ) {
            try CreditCode.validate("914403001922038217")
        }
    }

    @Test func wrongLengthIsReported() {
        #expect(
            throws: ValidationError(
                field: "creditCode",
                message: "credit code '9144030019220382' has 16 characters; a unified social credit code has 18")
        ) {
            try CreditCode.validate("9144030019220382")
        }
    }

    @Test(arguments: ["I", "O", "Z", "S", "V"])
    func lettersOutsideTheAlphabetAreRefused(_ letter: String) {
        let code = "9144030019220382" + letter + "6"
        #expect(throws: ValidationError.self) { try CreditCode.validate(code) }
    }

    @Test func lowercaseGetsAHint() throws {
        do {
            try CreditCode.validate("9144030071526726xg")
            Issue.record("lowercase code accepted")
        } catch {
            #expect(error.message.contains("use uppercase"))
            #expect(error.message.contains("position 17"))
        }
    }

    @Test func checkCharacterCanBeComputed() {
        #expect(CreditCode.checkCharacter(forBody: "9144030071526726X") == "G")
        #expect(CreditCode.checkCharacter(forBody: "short") == nil)
    }
}

@Suite struct FieldValidationTests {
    @Test func customerCodeNeedsSixDigitsAndARegion() throws {
        try CustomerCode.validate("110001")
        try CustomerCode.validate("440305")
        #expect(throws: ValidationError(field: "code", message: "customer code '11001' must be exactly 6 digits")) {
            try CustomerCode.validate("11001")
        }
        #expect(throws: ValidationError.self) { try CustomerCode.validate("11000a") }
        do {
            try CustomerCode.validate("990001")
            Issue.record("region 99 accepted")
        } catch {
            #expect(error.message.hasPrefix("customer code '990001' starts with '99', which is not a region code"))
        }
        #expect(CustomerCode.regionName(of: "310001") == "Shanghai")
    }

    @Test(arguments: [
        "13812345678", "19900001111", "010-12345678", "0755-1234567", "0755-1234567-8001", "021-87654321-12",
    ])
    func validPhones(_ phone: String) throws {
        try PhoneNumber.validate(phone)
    }

    @Test(arguments: [
        "12812345678", "1381234567", "138123456789", "10-12345678", "010-0234567", "010-123456", "010-12345678-1234567",
        "010 12345678", "+8613812345678", "",
    ])
    func invalidPhones(_ phone: String) {
        #expect(throws: ValidationError.self) { try PhoneNumber.validate(phone) }
    }

    @Test func emailShape() throws {
        try EmailAddress.validate("li.wei@example.com.cn")
        for bad in ["li.wei", "@example.com", "a@b", "a b@example.com", "a@@example.com", "a@example.c", "a@.com"] {
            #expect(throws: ValidationError.self, "\(bad)") { try EmailAddress.validate(bad) }
        }
    }

    @Test func datesMustBeReal() throws {
        try CalendarDate.validate("2030-12-31", field: "retainUntil")
        try CalendarDate.validate("2028-02-29", field: "retainUntil")
        for bad in ["2027-02-29", "2030-13-01", "2030-1-01", "30-01-01", "2030-04-31", "tomorrow"] {
            #expect(throws: ValidationError.self, "\(bad)") { try CalendarDate.validate(bad, field: "retainUntil") }
        }
    }

    @Test func siteIDs() throws {
        _ = try SiteID("hq")
        _ = try SiteID("sh-pudong")
        _ = try SiteID(String(repeating: "a", count: 32))
        for bad in ["", "HQ", "bj_01", "-bj", String(repeating: "a", count: 33), "北京"] {
            #expect(throws: ValidationError.self, "\(bad)") { _ = try SiteID(bad) }
        }
    }

    @Test func recordIDsRoundTripAndAreTimeOrdered() throws {
        var generator = SeededGenerator(seed: 7)
        let random = { (0..<10).map { _ in UInt8.random(in: 0...255, using: &generator) } }
        let early = RecordID.version7(unixMilliseconds: 1_700_000_000_000, random: random())
        let late = RecordID.version7(unixMilliseconds: 1_700_000_000_001, random: random())
        #expect(early < late)
        #expect(try RecordID(early.description) == early)
        #expect(try RecordID(early.description.uppercased()) == early)
        #expect(early.description.count == 36)
        #expect(Array(early.description)[14] == "7")
        #expect(throws: ValidationError.self) { _ = try RecordID("not-a-uuid") }
    }
}

@Suite struct SchemaTests {
    let goodCustomer = ["code": "110001", "name": "北京华信科技有限公司", "creditCode": "91110000802100433B"]

    @Test func newCustomerGetsDefaults() throws {
        let values = try RecordSchema.customers.validateNew(goodCustomer)
        #expect(values["category"] == "general")
        #expect(values["class"] == "internal")
    }

    @Test func missingRequiredFieldIsNamedByItsFlag() {
        var values = goodCustomer
        values["creditCode"] = nil
        #expect(throws: ValidationError(field: "creditCode", message: "credit-code is required for a customer")) {
            _ = try RecordSchema.customers.validateNew(values)
        }
    }

    @Test func unknownFieldsAndBadEnumsAreRefused() {
        var values = goodCustomer
        values["colour"] = "red"
        #expect(throws: ValidationError(field: "colour", message: "customer has no field 'colour'")) {
            _ = try RecordSchema.customers.validateNew(values)
        }
        #expect(throws: ValidationError(field: "category", message: "category 'vip' is not one of: general, special")) {
            try RecordSchema.customers.validateChanges(["category": "vip"])
        }
        #expect(
            throws: ValidationError(
                field: "class", message: "class 'top' is not one of: public, internal, confidential, secret")
        ) {
            try RecordSchema.customers.validateChanges(["class": "top"])
        }
    }

    @Test func requiredFieldsCannotBeCleared() {
        #expect(throws: ValidationError(field: "name", message: "name is required and cannot be cleared")) {
            try RecordSchema.customers.validateChanges(["name": ""])
        }
    }

    @Test func documentsNeedTitleKindAndType() throws {
        let values = try RecordSchema.documents.validateNew([
            "title": "2026年度框架合同", "kind": "market", "type": "contract",
        ])
        #expect(values["status"] == "active")
        #expect(throws: ValidationError.self) {
            _ = try RecordSchema.documents.validateNew(["title": "x", "kind": "market", "type": "memo"])
        }
        #expect(throws: ValidationError.self) {
            _ = try RecordSchema.documents.validateNew([
                "title": "x", "kind": "market", "type": "fax", "retainUntil": "2030-02-30",
            ])
        }
    }

    @Test func flagsAreKebabCase() {
        #expect(RecordSchema.customers.field(named: "credit-code")?.name == "creditCode")
        #expect(RecordSchema.customers.field(named: "bankAccount")?.flag == "bank-account")
        #expect(RecordSchema.documents.field(named: "retain-until")?.name == "retainUntil")
    }
}

@Suite struct StateValidationTests {
    /// `validateValues(of:)`, which every received state goes through, judges exactly as `validateNew` judges the
    /// state's values: the same error, or none, for random mixes of valid values, invalid values, empty values,
    /// missing required fields, names that differ only by case or normalization, and fields the collection lacks.
    @Test(arguments: RecordCollection.allCases)
    func judgesAsValidateNewDoes(_ collection: RecordCollection) throws {
        let seed = TestSeed.make()
        var generator = SeededGenerator(seed: seed)
        let schema = RecordSchema.of(collection)
        let candidates: [String] = [
            "", "x", "Acme 有限公司", "110101", "91350100M000100Y43", "914403001922038217", "+86 10 8888 8888",
            "13800138000", "a@b.cn", "not an email", "6222 0200 1234 5678", "12", "2026-11-25", "2026-02-30",
            "public", "secret", "bj01", "bj01,sh01", "sh01,bj01", String(repeating: "e", count: 64), "42", "-1",
            "0190f5a8-9c7e-7b6a-8d5e-3f2a1b0c9d8e", "line\nbreak", "bell\u{7}", String(repeating: "长", count: 300),
            "contract", "market", "administrative",
        ]
        let names = schema.fields.map(\.name) + ["unknownField", "Name", "e\u{301}", "\u{e9}", "bank-account"]
        let stamp = Stamp(
            dot: Dot(site: try SiteID("bj01"), counter: 1), time: HLCTimestamp(wallMilliseconds: 1, logical: 0))
        for _ in 0..<400 {
            var fields: [String: FieldValue] = [:]
            for name in names where Int.random(in: 0..<3, using: &generator) > 0 {
                let value = Bool.random(using: &generator) ? validValue(for: name, in: schema) : nil
                fields[name] = FieldValue(
                    value: value ?? candidates.randomElement(using: &generator) ?? "", stamp: stamp)
            }
            let state = RecordState(
                id: RecordID.version7(unixMilliseconds: 1, random: Array(repeating: 5, count: 10)),
                collection: collection, owner: try SiteID("bj01"), fields: fields)
            let expected = Result { () throws(ValidationError) in _ = try schema.validateNew(state.plainValues) }
            let actual = Result { () throws(ValidationError) in try schema.validateValues(of: state) }
            #expect(
                String(describing: actual) == String(describing: expected),
                "seed \(seed): \(fields.mapValues(\.value))")
        }
    }

    /// A value the field accepts, so that records get past their first field often enough to reach the others.
    private func validValue(for name: String, in schema: RecordSchema) -> String? {
        guard let spec = schema.field(exactly: name) else { return nil }
        let samples = [
            "Acme 有限公司", "110101", "91350100M000100Y43", "+86 10 8888 8888", "a@b.cn", "6222 0200 1234 5678",
            "2026-11-25", "public", "bj01", "bj01,sh01", String(repeating: "e", count: 64), "42",
            "0190f5a8-9c7e-7b6a-8d5e-3f2a1b0c9d8e", "contract", "market", "administrative", "report", "1",
        ]
        return samples.first { (try? spec.validate($0)) != nil }
    }
}
