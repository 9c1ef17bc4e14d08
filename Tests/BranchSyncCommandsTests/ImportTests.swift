import Foundation
import Testing

@testable import BranchSyncCommands

@Suite struct CSVReaderTests {
    func records(_ text: String) throws -> [[String]] {
        var reader = CSVReader(Array(text.utf8))
        var result: [[String]] = []
        while let record = try reader.next() { result.append(record.fields) }
        return result
    }

    @Test func quotesCommasNewlinesAndCRLF() throws {
        let text = "\u{FEFF}a,b\r\n\"x, \"\"y\"\"\",\"two\nlines\"\r\n\n,last\n"
        #expect(try records(text) == [["a", "b"], ["x, \"y\"", "two\nlines"], ["", "last"]])
    }

    @Test func lineNumbersCountPhysicalLines() throws {
        var reader = CSVReader(Array("h\n\"a\nb\"\nc\n".utf8))
        #expect(try reader.next()?.line == 1)
        #expect(try reader.next()?.line == 2)
        #expect(try reader.next()?.line == 4)
    }

    @Test func malformedInputIsReportedWithItsLine() {
        var unterminated = CSVReader(Array("a\n\"open,b\n".utf8))
        _ = try? unterminated.next()
        #expect(throws: CSVReader.FormatError.self) { try unterminated.next() }
        var gbk = CSVReader([0x61, 0x0A, 0xB1, 0xB1, 0xBE, 0xA9, 0x0A])
        _ = try? gbk.next()
        do {
            _ = try gbk.next()
            Issue.record("GBK bytes accepted")
        } catch {
            #expect(error.description == "line 2: the file is not UTF-8 text; save it as 'CSV UTF-8' and import again")
        }
    }
}

@Suite struct ImportCustomersTests {
    static let ledger = """
        code,name,credit-code,phone,category,bank-account
        440300,华为技术有限公司,914403001922038216,0755-28780808,special,6222 0000 1111 2222
        440301,腾讯科技（深圳）有限公司,9144030071526726XG,,general,
        110001,坏的信用代码公司,914403001922038217,,general,
        310001,电话错误公司,91310000132200821H,12345,general,
        440300,重复编码公司,91110000802100433B,,general,
        330100,"阿里巴巴（中国）有限公司, 杭州",91330100716105852F,13912345678,general,
        110002,字段太少
        """

    @Test func badRowsAreReportedByLineAndGoodRowsCommitted() throws {
        let directory = TemporaryDirectory()
        let data = directory.file("hq")
        _ = cli(["init", "--site", "hq", "--role", "hub"], data: data)
        let file = directory.write("ledger.csv", Self.ledger + "\n")
        let result = cli(["import", "customers", file], data: data)
        #expect(result.status == 3)
        #expect(result.out == "imported \(file): 3 created, 0 updated, 0 unchanged, 4 refused\n")
        #expect(result.err.contains("line 4: credit code '914403001922038217' has check character '7', expected '6'\n"))
        #expect(result.err.contains("line 5: phone '12345' is neither a mobile number"))
        #expect(result.err.contains("line 6: customer code 440300 already appears on line 2\n"))
        #expect(result.err.contains("line 8: has 2 fields, the header has 6\n"))
        let list = cli(["customer", "list", "--json"], data: data).out
        #expect(list.contains("阿里巴巴（中国）有限公司, 杭州"))
        #expect(list.contains("6222 0000 1111 2222"))

        // A re-run duplicates nothing; a corrected ledger updates in place.
        let rerun = cli(["import", "customers", file, "--json"], data: data)
        #expect(rerun.out.hasPrefix(#"{"created":0,"updated":0,"unchanged":3,"refused":[{"line":4,"#))
        let fixed = directory.write(
            "fixed.csv",
            "code,name,credit-code,phone\n440300,华为技术有限公司,914403001922038216,0755-28780000\n110001,北京某公司,91110000802100433B,\n"
        )
        let third = cli(["import", "customers", fixed], data: data)
        #expect(third.status == 0, "\(third.err)")
        #expect(third.out == "imported \(fixed): 1 created, 1 updated, 0 unchanged, 0 refused\n")
        #expect(cli(["customer", "list"], data: data).out.hasSuffix("4 customers\n"))
    }

    @Test func unusableHeadersStopTheImportBeforeAnyRow() {
        let directory = TemporaryDirectory()
        let data = directory.file("hq")
        _ = cli(["init", "--site", "hq", "--role", "hub"], data: data)
        let unknown = cli(["import", "customers", directory.write("a.csv", "code,name,credit-code,fax\n")], data: data)
        #expect(unknown.status == 3)
        #expect(
            unknown.err.hasPrefix(
                "branchsync: error: line 1: unknown column 'fax'; the columns are: code,name,credit-code,"))
        let missing = cli(["import", "customers", directory.write("b.csv", "code,name\n440300,x\n")], data: data)
        #expect(missing.err == "branchsync: error: line 1: the header has no 'credit-code' column, which is required\n")
        let absent = cli(["import", "customers", directory.file("absent.csv")], data: data)
        #expect(absent.status == 1)
    }

    @Test func progressIsReportedForLargeFiles() {
        let directory = TemporaryDirectory()
        let data = directory.file("hq")
        _ = cli(["init", "--site", "hq", "--role", "hub"], data: data)
        var text = "code,name,credit-code\n"
        for index in 0..<2500 { text += "\(110000 + index),公司\(index),914403001922038216\n" }
        let result = cli(["import", "customers", directory.write("big.csv", text)], data: data)
        #expect(result.status == 0)
        #expect(result.err.contains("importing: 1000/2500 rows (40%)\n"))
        #expect(result.err.contains("importing: 2500/2500 rows (100%)\n"))
        #expect(result.out.contains("2500 created"))
    }
}
