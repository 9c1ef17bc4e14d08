/// The group's customer code: 6 digits, the first 2 a region code.
///
/// Region codes are the province-level codes of GB/T 2260 (11 Beijing … 82 Macao), the same prefix that
/// administrative division codes and ID numbers use.
public enum CustomerCode {
    /// Region code → region name (GB/T 2260 province level).
    public static let regions: [String: String] = [
        "11": "Beijing", "12": "Tianjin", "13": "Hebei", "14": "Shanxi", "15": "Inner Mongolia",
        "21": "Liaoning", "22": "Jilin", "23": "Heilongjiang",
        "31": "Shanghai", "32": "Jiangsu", "33": "Zhejiang", "34": "Anhui", "35": "Fujian", "36": "Jiangxi",
        "37": "Shandong",
        "41": "Henan", "42": "Hubei", "43": "Hunan", "44": "Guangdong", "45": "Guangxi", "46": "Hainan",
        "50": "Chongqing", "51": "Sichuan", "52": "Guizhou", "53": "Yunnan", "54": "Tibet",
        "61": "Shaanxi", "62": "Gansu", "63": "Qinghai", "64": "Ningxia", "65": "Xinjiang",
        "71": "Taiwan", "81": "Hong Kong", "82": "Macao",
    ]

    /// Checks the shape and the region of a customer code.
    /// - Throws: ``ValidationError`` saying what is wrong.
    public static func validate(_ code: String) throws(ValidationError) {
        guard code.utf8.count == 6, code.utf8.allSatisfy({ $0 >= 0x30 && $0 <= 0x39 }) else {
            throw ValidationError(field: "code", message: "customer code '\(code)' must be exactly 6 digits")
        }
        let region = String(code.prefix(2))
        guard regions[region] != nil else {
            throw ValidationError(
                field: "code",
                message: "customer code '\(code)' starts with '\(region)', which is not a region code "
                    + "(GB/T 2260 province codes, e.g. 11 Beijing, 31 Shanghai, 44 Guangdong)")
        }
    }

    /// The region name of a valid code.
    public static func regionName(of code: String) -> String? {
        regions[String(code.prefix(2))]
    }
}
